"""Failure paths of xor_tf.train as a careless or unlucky user meets them: one line, no traceback,
nothing half-written, no hang (issue 15). Real processes where the promise is about a process."""

import dataclasses
import io
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, run_module
from xor_tf import config as config_lib
from xor_tf import events
from xor_tf import experiment
from xor_tf import rundir
from xor_tf import training


def one_error_line(proc, status=2):
  assert proc.returncode == status, (proc.returncode, proc.stderr)
  assert "Traceback" not in proc.stderr, proc.stderr
  line, = proc.stderr.strip().splitlines()
  assert line.startswith("xor_tf.train: error: "), line
  return line


def run_in(cwd, *args, timeout=300):
  env = dict(os.environ, PYTHONPATH=REPO)
  return subprocess.run([sys.executable, "-m", "xor_tf.train", *args], capture_output=True,
                        text=True, env=env, cwd=cwd, timeout=timeout, check=False)


@pytest.mark.parametrize("args,named", [
    (["--seed=99999999999999999999"], "--seed"),
    (["--run_name=" + "x" * 300], "at most 200 bytes"),
    (["--run_name=a\nb"], "control characters"),
    (["--hidden=100000000"], "at most 32 layers"),
    (["--arch=nn", "--hidden=1000,1000"], "1024 in all"),
    (["--steps=1000000000000000000"], "--steps"),
    (["--log_every=10000000000000000"], "--log_every"),
    (["--logdir=gs://bucket/xor"], "local directory"),
    (["--logdir=/proc/xor_tf_cannot_write"], "where a run directory can be made"),
])
def test_bad_values_fail_in_one_line_before_anything_is_written(tmp_path, args, named):
  if not any(a.startswith("--logdir") for a in args):
    args = [f"--logdir={tmp_path / 'logs'}", *args]
  proc = run_in(tmp_path, *args, timeout=60)
  assert named in one_error_line(proc)
  assert os.listdir(tmp_path) == []  # no logs/, no ./gs:/bucket tree


def test_non_utf8_flagfile(tmp_path):
  (tmp_path / "flags.txt").write_bytes(b"--arch=nn\n--\xff\xfe\n")
  line = one_error_line(run_in(tmp_path, f"--flagfile={tmp_path / 'flags.txt'}", timeout=60))
  assert "UTF-8" in line and sorted(os.listdir(tmp_path)) == ["flags.txt"]


def saved_run(tmp_path, extra=()):
  """A run directory holding only the flags.txt a real run of nn writes (no training needed
  for what is refused before the checkpoints are read)."""
  run_dir = tmp_path / "logs" / "saved"
  run_dir.mkdir(parents=True)
  rundir.write_flags(str(run_dir), ["--arch=nn", "--learning_rate=5.0", "--steps=300",
                                    f"--logdir={tmp_path / 'logs'}", *extra])
  return run_dir


@pytest.mark.parametrize("flag", ["--arch=deep", "--learning_rate=0.5", "--logdir=elsewhere",
                                  "--run_name=other"])
def test_resume_refuses_a_flag_that_contradicts_the_run(tmp_path, flag):
  run_dir = saved_run(tmp_path)
  before = (run_dir / "flags.txt").read_bytes()
  line = one_error_line(run_in(tmp_path, f"--resume={run_dir}", "--steps=600", flag, timeout=60))
  assert flag.split("=")[0] + "=" in line and "the run has" in line
  assert (run_dir / "flags.txt").read_bytes() == before
  assert sorted(os.listdir(run_dir)) == ["flags.txt"]


@pytest.mark.parametrize("extra", [["--bogus=3"], ["garbage words"]])
def test_resume_of_a_broken_flags_file(tmp_path, extra):
  run_dir = saved_run(tmp_path, extra)
  line = one_error_line(run_in(tmp_path, f"--resume={run_dir}", timeout=60))
  assert "flags.txt" in line and ("bogus" in line or "garbage" in line)


def start(tmp_path, *args):
  env = dict(os.environ, PYTHONPATH=REPO)
  return subprocess.Popen([sys.executable, "-u", "-m", "xor_tf.train", "--arch=nn", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          cwd=tmp_path)


def wait_for(proc, prefix):
  for line in proc.stdout:
    if line.startswith(prefix):
      return line
  raise AssertionError(f"no line starting {prefix!r}; stderr: {proc.stderr.read()}")


def test_huge_steps_and_interval_stop_on_ctrl_c_and_the_command_pastes_back(tmp_path):
  # 10^12 steps with one logging interval: the logging schedule never exists as a list, and
  # chunks bounded in training steps let the SIGINT through (the test's timeout bounds it).
  run_dir = str(tmp_path / "logs" / "with space")
  proc = start(tmp_path, f"--logdir={tmp_path / 'logs'}", "--run_name=with space",
               "--steps=1000000000000", "--log_every=1000000000000", "--image_every=0",
               "--checkpoint_every=1000000000000")
  try:
    wait_for(proc, "step")
    time.sleep(1)
    # A second process may not train in the same run meanwhile.
    second = run_in(tmp_path, f"--resume={run_dir}", "--steps=2000000000000", timeout=60)
    assert "is in use" in one_error_line(second)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
  finally:
    proc.kill()
  assert proc.returncode == 130 and "Traceback" not in err, err
  stopped = [l for l in out.splitlines() if l.startswith("stopped by SIGINT at step ")]
  step = int(stopped[0].split()[5].rstrip(";"))
  assert 0 < step < 10**12 and "checkpoint saved" in stopped[0]
  assert rundir.latest_checkpoint(run_dir).endswith(f"ckpt-{step}")
  command, = [l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("continue it: ")]
  argv = shlex.split(command)
  assert argv[:3] == ["python", "-m", "xor_tf.train"] and argv[3] == f"--resume={run_dir}"
  resumed = run_in(tmp_path, *argv[3:], f"--steps={step + 1000}", timeout=120)
  assert resumed.returncode == 0, resumed.stderr
  assert rundir.latest_checkpoint(run_dir).endswith(f"ckpt-{step + 1000}")
  # Logged: step 0 and the last step, once each (the stop was between logging steps).
  assert [s for s, _ in events.read(run_dir)["loss"]] == [0, step + 1000]


def test_ctrl_c_while_compiling_keeps_a_checkpoint_that_resumes(tmp_path):
  proc = start(tmp_path, f"--logdir={tmp_path}", "--run_name=r", "--steps=1000000")
  try:
    wait_for(proc, "xor_tf:")  # the header: the first call, which compiles, comes next
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
  finally:
    proc.kill()
  assert proc.returncode == 130 and err == "", err
  stopped, = [l for l in out.splitlines() if l.startswith("stopped by SIGINT")]
  step = int(stopped.split()[5].rstrip(";"))
  assert "checkpoint saved" in stopped
  assert rundir.latest_checkpoint(str(tmp_path / "r")).endswith(f"ckpt-{step}")


def test_fit_trainer_ctrl_c_is_one_line(tmp_path):
  proc = start(tmp_path, f"--logdir={tmp_path}", "--run_name=fit", "--arch=keras",
               "--trainer=fit", "--steps=100000000", "--log_every=100")
  try:
    wait_for(proc, "step")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
  finally:
    proc.kill()
  proc.stderr = err
  line = one_error_line(proc, status=130)
  assert "stopped by SIGINT" in line and "fit runs keep no checkpoints" in line


def test_divergence_without_a_checkpoint_says_so_and_writes_only_logging_steps(tmp_path):
  proc = run_in(tmp_path, f"--logdir={tmp_path}", "--run_name=d", "--arch=nn", "--optimizer=adam",
                "--learning_rate=1e38", "--steps=1000", "--log_every=100")
  line = one_error_line(proc, status=3)
  assert "no checkpoint had been saved before it" in line
  assert rundir.latest_checkpoint(str(tmp_path / "d")) is None
  for tag, entries in events.read(str(tmp_path / "d")).items():
    assert all(step % 100 == 0 for step, _ in entries), tag


def test_checkpoints_land_on_every_multiple_between_logging_steps(tmp_path):
  """--log_every=70 --checkpoint_every=100: checkpoints at 100, 200, 300, and a resume from
  one (not a logging step) equals the straight run, diagnostics' counters included."""
  config = config_lib.Config(arch="nn", steps=300, log_every=70, image_every=0,
                             diagnostics=True)
  short = dataclasses.replace(config, steps=200)
  for name, first in (("resumed", short), ("straight", config)):
    experiment.run(first, logdir=str(tmp_path), run_name=name, out=io.StringIO(),
                   checkpoint_every=100)
  names = sorted(os.listdir(tmp_path / "straight" / experiment.CHECKPOINTS))
  assert [n for n in names if n.endswith(".index")] == [
      "ckpt-100.index", "ckpt-200.index", "ckpt-300.index"]
  # Resume "resumed" from its step-100 checkpoint, as after a kill at 150.
  ckpt_dir = str(tmp_path / "resumed" / experiment.CHECKPOINTS)
  tf.compat.v1.train.update_checkpoint_state(ckpt_dir, os.path.join(ckpt_dir, "ckpt-100"))
  experiment.resume(config, str(tmp_path / "resumed"), out=io.StringIO(), checkpoint_every=100)
  straight, resumed = (tf.train.load_checkpoint(str(tmp_path / n / experiment.CHECKPOINTS))
                       for n in ("straight", "resumed"))
  names = [n for n in straight.get_variable_to_shape_map() if "OBJECT_GRAPH" not in n
           and not n.startswith("save_counter")]
  assert any("changes" in n for n in names)
  for n in names:
    np.testing.assert_array_equal(straight.get_tensor(n), resumed.get_tensor(n), err_msg=n)
  logged = {t: [s for s, _ in v] for t, v in events.read(str(tmp_path / "straight")).items()}
  assert logged["loss"] == [0, 70, 140, 210, 280, 300]


def test_next_chunk_is_bounded_by_size_and_training_steps():
  config = config_lib.Config(steps=10**15, log_every=1, image_every=0)
  assert training.next_chunk(0, config, 64) == list(range(1, 65))
  big = dataclasses.replace(config, log_every=10**12)
  assert training.next_chunk(0, big, 1) == [training.MAX_STEPS_PER_CALL]
  assert training.next_chunk(10**12 - 3, big, 1) == [10**12]
  assert training.next_chunk(0, dataclasses.replace(config, log_every=700), 8, 1000) == [
      700, 1000]


def test_a_failed_checkpoint_save_leaves_no_temporary_files(tmp_path):
  config = config_lib.Config(arch="nn", steps=200, log_every=100)
  loop = training.create(config)
  ckpt_dir = tmp_path / "checkpoints"
  manager = tf.train.CheckpointManager(loop.checkpoint(), str(ckpt_dir), max_to_keep=3)
  ckpt_dir.mkdir()
  # A file where the save puts its temporary directory: the save fails as on a full disk.
  (ckpt_dir / "ckpt-100_temp").write_bytes(b"")
  with pytest.raises(Exception):
    training.train(config, loop=loop, checkpoints=manager, checkpoint_every=100)
  assert not any("_temp" in p.name for p in ckpt_dir.iterdir())
  assert manager.latest_checkpoint is None


# --- A full disk: a small tmpfs (needs root) ---------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
  if os.geteuid() != 0:
    pytest.skip("mounting a small tmpfs needs root")
  mount = tmp_path / "disk"
  mount.mkdir()
  made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                        capture_output=True, text=True, check=False)
  if made.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs: {made.stderr.strip()}")
  try:
    yield mount
  finally:
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_mid_run_stops_at_once_and_the_checkpoint_resumes(tmp_path, small_disk):
  # Pictures (PNG) every 20 steps outgrow the 1 MB disk long before step 4000.
  flags = ["--arch=deep", "--steps=4000", "--log_every=20", "--image_every=20",
           "--checkpoint_every=100"]
  proc = run_in(tmp_path, f"--logdir={small_disk}", "--run_name=r", *flags)
  line = one_error_line(proc, status=1)
  assert "reach the disk" in line or "No space left" in line, line
  run_dir = small_disk / "r"
  checkpoint = rundir.latest_checkpoint(str(run_dir))
  assert checkpoint is not None and line.endswith(rundir.resume_command(str(run_dir)))
  step = int(checkpoint.rsplit("-", 1)[1])
  assert 0 < step < 4000
  assert not any("_temp" in p.name for p in (run_dir / "checkpoints").iterdir())
  # Room again: the printed command finishes the run, and it equals the straight run.
  subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
  resumed = run_in(tmp_path, *shlex.split(line.rsplit("continue it: ", 1)[1])[3:])
  assert resumed.returncode == 0, resumed.stderr
  config = config_lib.Config(arch="deep", steps=4000, log_every=20, image_every=20)
  experiment.run(config, logdir=str(tmp_path), run_name="straight", out=io.StringIO(),
                 checkpoint_every=100)
  loss = lambda d: [(s, float(v)) for s, v in events.read(str(d))["loss"]]
  assert loss(run_dir) == loss(tmp_path / "straight")


def test_full_disk_at_the_start_leaves_nothing(tmp_path, small_disk):
  with open(small_disk / "filler", "wb") as f:
    try:
      while True:
        f.write(b"\0" * 65536)
        f.flush()
    except OSError:
      pass
  proc = run_in(tmp_path, f"--logdir={small_disk}", "--run_name=r", "--arch=nn", timeout=60)
  line = one_error_line(proc, status=1)
  assert "No space left on device" in line
  assert sorted(os.listdir(small_disk)) == ["filler"]


def test_a_second_default_run_prints_nothing_on_stderr(tmp_path):
  # XLA's persistent cache printed nine E0000 lines each time it loaded an entry; it is now
  # opt-in (XOR_TF_XLA_CACHE=1), so a newcomer's second run is as quiet as the first.
  env = {k: v for k, v in os.environ.items() if k not in ("XOR_TF_XLA_CACHE", "TF_XLA_FLAGS",
                                                         "TF_CPP_MIN_LOG_LEVEL")}
  env.update(PYTHONPATH=REPO, XDG_CACHE_HOME=str(tmp_path / "cache"))
  for name in ("first", "second"):
    proc = subprocess.run([sys.executable, "-m", "xor_tf.train", f"--logdir={tmp_path}",
                           f"--run_name={name}", "--arch=nn", "--steps=200"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
  assert not (tmp_path / "cache").exists()
