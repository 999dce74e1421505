"""Sweeps across processes: two workers on 127.0.0.1 with TF_CONFIG, as on two machines.

Each test starts real `python -m xor_tf.sweep` processes and bounds them with its own timeout.
"""

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from conftest import REPO
from test_sweep_survival import config, snapshot
from xor_tf import sweep

ARGS = ["--arch=nn", "--learning_rate=1,5", "--seeds=0-6", "--steps=300", "--seeds_per_slice=4"]


def free_ports(count):
  with contextlib.ExitStack() as stack:
    socks = [stack.enter_context(socket.socket()) for _ in range(count)]
    for s in socks:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in socks]


def start_worker(index, ports, logdir, *args):
  tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
               "task": {"type": "worker", "index": index}}
  env = dict(os.environ, PYTHONPATH=REPO, TF_CONFIG=json.dumps(tf_config))
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it: TensorFlow's logs must not show
  return subprocess.Popen(
      [sys.executable, "-u", "-m", "xor_tf.sweep", f"--logdir={logdir}", "--sweep_name=s",
       *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def finish(procs, timeout=120):
  """(returncode, stdout, stderr) of each process; kills them all if one outlasts `timeout`."""
  try:
    return [(p, *p.communicate(timeout=timeout)) for p in procs]
  finally:
    for p in procs:
      p.kill()


def one_process_sweep(logdir, args):
  """The reference: the same sweep in this process, on one device."""
  flags = dict(a[2:].split("=", 1) for a in args)
  configs = [config(arch=flags["arch"], learning_rate=float(rate), steps=int(flags["steps"]))
             for rate in flags["learning_rate"].split(",")]
  return sweep.run(configs, sweep.parse_seeds(flags["seeds"]), logdir=str(logdir),
                   sweep_name="one", trials="seed", out=io.StringIO(),
                   per_slice=int(flags["seeds_per_slice"]))[1]


def assert_same_sweep(got, expected):
  got_runs, expected_runs = snapshot(got), snapshot(expected)
  assert sorted(got_runs) == sorted(expected_runs)
  for run in expected_runs:
    assert got_runs[run] == expected_runs[run], run
  for name in os.listdir(os.path.join(expected, sweep.RESULTS)):
    a, b = (per_seed(d, name) for d in (got, expected))
    for field in sweep.SLICE_FIELDS:
      np.testing.assert_array_equal(a[field], b[field], err_msg=f"{name} {field}")


def per_seed(sweep_dir, name):
  """A configuration's saved per-seed results, whatever its slices."""
  done, spans = sweep.on_disk(sweep.results_dir(sweep_dir, name))
  assert done and spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
  parts = [sweep.load_slice(sweep.slice_path(sweep.results_dir(sweep_dir, name), lo, hi))
           for lo, hi in spans]
  return {k: np.concatenate([p[k] for p in parts]) for k in sweep.SLICE_FIELDS}


def test_two_workers_sweep_as_one_process(tmp_path):
  ports = free_ports(2)
  (chief, out, err), (other, other_out, other_err) = finish(
      [start_worker(i, ports, tmp_path / "two", *ARGS) for i in (0, 1)])
  assert chief.returncode == 0 and other.returncode == 0, err + other_err
  assert err == "" and other_err == ""
  assert "2 replicas" in out and "[2/2] nn-2-2-1 sigmoid sgd lr5" in out
  assert "the chief prints and writes" in other_out
  # Seeds 0-6 in slices of 4: (0, 4) and an uneven (4, 7), each split over the two workers.
  assert_same_sweep(str(tmp_path / "two" / "s"), one_process_sweep(tmp_path, ARGS))


def test_a_missing_worker_is_named_within_the_timeout(tmp_path):
  ports = free_ports(2)
  (chief, out, err), = finish([start_worker(0, ports, tmp_path, "--cluster_timeout=2", *ARGS)],
                              timeout=60)
  assert chief.returncode == 1
  line, = err.strip().splitlines()
  assert line.startswith("xor_tf.sweep: error: worker 1 (127.0.0.1:%d) has not joined" % ports[1])
  assert "--cluster_timeout=2 s" in line
  assert not (tmp_path / "s").exists()


def test_a_killed_worker_is_named_and_the_sweep_resumes_on_one_process(tmp_path):
  ports = free_ports(2)
  args = ["--arch=nn", "--learning_rate=1,5", "--seeds=0-5", "--steps=5000",
          "--seeds_per_slice=2"]
  procs = [start_worker(i, ports, tmp_path, *args) for i in (0, 1)]
  lr1, lr5 = (sweep.results_dir(str(tmp_path / "s"),
                                sweep.config_name(config(arch="nn", learning_rate=rate, steps=5000)))
              for rate in (1, 5))
  first = sweep.slice_path(lr1, 0, 2)
  deadline = time.monotonic() + 120
  while not os.path.exists(first) and time.monotonic() < deadline and procs[0].poll() is None:
    time.sleep(0.05)
  procs[1].kill()
  (chief, out, err), _ = finish(procs)
  assert chief.returncode == 1, err
  line, = err.strip().splitlines()
  assert line.startswith(f"xor_tf.sweep: error: lost worker 1 (127.0.0.1:{ports[1]})")
  assert f"--resume={tmp_path / 's'}" in line
  assert not sweep.on_disk(lr5)[0]  # the sweep did stop midway

  env = dict(os.environ, PYTHONPATH=REPO)
  resumed = subprocess.run(
      [sys.executable, "-m", "xor_tf.sweep", f"--resume={tmp_path / 's'}", "--distribute=none"],
      capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
  assert resumed.returncode == 0, resumed.stderr
  assert "resuming:" in resumed.stdout
  assert_same_sweep(str(tmp_path / "s"), one_process_sweep(tmp_path, args))


def test_sigterm_on_one_worker_stops_both(tmp_path):
  ports = free_ports(2)
  args = ["--arch=nn", "--seeds=0-3", "--steps=100000000", "--trials=config"]
  procs = [start_worker(i, ports, tmp_path, *args) for i in (0, 1)]
  for line in procs[0].stdout:  # the chief announces the sweep once the cluster is up
    if line.startswith("sweep directory:"):
      break
  time.sleep(1)
  procs[1].send_signal(signal.SIGTERM)
  (chief, out, err), (other, other_out, other_err) = finish(procs, timeout=60)
  assert chief.returncode == 143 and other.returncode == 143, err + other_err
  assert err == "" and other_err == ""
  assert "stopped by SIGTERM (caught by worker 1): 0 of 1 configurations finished" in out
  assert f"continue it: python -m xor_tf.sweep --resume={tmp_path / 's'}" in out
  assert "stopped by SIGTERM" in other_out


def test_a_worker_waiting_for_the_cluster_says_so_and_stops_on_sigterm(tmp_path):
  ports = free_ports(2)
  worker = start_worker(0, ports, tmp_path, "--cluster_timeout=120", *ARGS)
  try:
    line = worker.stdout.readline()
    worker.send_signal(signal.SIGTERM)
    (worker, out, err), = finish([worker], timeout=30)
  finally:
    worker.kill()
  assert line == (f"xor_tf.sweep: worker 0 (127.0.0.1:{ports[0]}) waits up to 120 s "
                  f"(--cluster_timeout) for worker 1 (127.0.0.1:{ports[1]}) to start\n")
  assert worker.returncode == 143 and err == ""
  assert out == "stopped by SIGTERM while waiting for the cluster; nothing was written.\n"
  assert not (tmp_path / "s").exists()
