"""Sweeps that survive: resumed sweeps equal straight ones, signals stop them, huge seed counts."""

import io
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, run_module
from xor_tf import config as config_lib
from xor_tf import ensemble
from xor_tf import events
from xor_tf import sweep

from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util


def config(**settings):
  """A sweep's configuration: its settings, logging only at the end, as sweep.grid makes them."""
  steps = settings.pop("steps")
  return config_lib.check(config_lib.Config(steps=steps, log_every=steps, image_every=0,
                                            **settings))


# Every kind of outcome: nn solves some seeds, logistic none, Adam at 1e38 diverges.
CONFIGS = [config(arch=arch, optimizer="adam", learning_rate=rate, steps=200)
           for arch in ("nn", "logistic") for rate in (0.1, 1e38)]
SEEDS = [0, 1, 2, 3, 4]  # slices of 2: (0, 2), (2, 4), (4, 5)


def snapshot(sweep_dir):
  """{run: {tag: (steps and values, plugin data)}} of every run in a sweep, as TensorBoard reads it.

  HParams' plugin data carries the wall time at which it was written; that is left out.
  """
  from xor_tf import events as ev  # pylint: disable=g-import-not-at-top
  runs = {}
  for root, _, files in os.walk(sweep_dir):
    if not any(f.startswith("events.out.tfevents.") for f in files):
      continue
    acc = ev.accumulator(root)
    run = {}
    for tag in acc.Tags()["tensors"]:
      content = acc.SummaryMetadata(tag).plugin_data.content
      if tag == hparams_metadata.SESSION_START_INFO_TAG:
        info = hparams_metadata.parse_session_start_info_plugin_data(content)
        info.ClearField("start_time_secs")
        content = info.SerializeToString(deterministic=True)
      elif tag == hparams_metadata.EXPERIMENT_TAG:
        info = hparams_metadata.parse_experiment_plugin_data(content)
        info.ClearField("time_created_secs")
        content = info.SerializeToString(deterministic=True)
      run[tag] = ([(e.step, tensor_util.make_ndarray(e.tensor_proto).tolist())
                   for e in acc.Tensors(tag)], content)
    runs[os.path.relpath(root, sweep_dir)] = run
  return runs


def saved_results(sweep_dir):
  """{config: {field: array}} of the per-seed results saved in a sweep directory."""
  out = {}
  for config in CONFIGS:
    name = sweep.config_name(config)
    done, spans = sweep.on_disk(sweep.results_dir(sweep_dir, name))
    assert done, name
    parts = [sweep.load_slice(sweep.slice_path(sweep.results_dir(sweep_dir, name), lo, hi))
             for lo, hi in spans]
    out[name] = {k: np.concatenate([p[k] for p in parts]) for k in sweep.SLICE_FIELDS}
  return out


def quiet_run(logdir, name=None, **kw):
  return sweep.run(CONFIGS, SEEDS, logdir=str(logdir), sweep_name=name, trials="seed",
                   out=io.StringIO(), per_slice=2, **kw)


def test_resumed_sweep_equals_the_straight_sweep(tmp_path, monkeypatch):
  straight_censuses, straight = quiet_run(tmp_path, "straight")

  resumed = str(tmp_path / "resumed")
  first, second = (sweep.results_dir(resumed, sweep.config_name(c)) for c in CONFIGS[:2])

  def stop_after_a_slice_of_the_second():  # checked at each slice's start and chunk's end
    return signal.SIGTERM if os.path.exists(sweep.slice_path(second, 0, 2)) else 0

  with pytest.raises(sweep.Stopped) as stopped:
    quiet_run(tmp_path, "resumed", stop_signal=stop_after_a_slice_of_the_second)
  assert stopped.value.signum == signal.SIGTERM
  assert sweep.on_disk(first) == (True, [(0, 2), (2, 4), (4, 5)])
  assert sweep.on_disk(second) == (False, [(0, 2)])
  # What the stopped sweep wrote: the census of the finished configuration, in the root run.
  partial = events.read(resumed)["census"][0][1].item().decode()
  assert ensemble.describe(CONFIGS[0]) in partial
  assert ensemble.describe(CONFIGS[1]) not in partial
  # As a SIGKILL could leave it: the second configuration's first slice has its trials written
  # but not its results; the first configuration's census is written but not marked done.
  os.remove(sweep.slice_path(second, 0, 2))
  os.remove(os.path.join(first, sweep.DONE))
  assert os.path.isdir(os.path.join(resumed, sweep.config_name(CONFIGS[1]), "seed1"))

  trained = []
  real_train = ensemble.train

  def train(config, seeds, **kw):
    trained.append((sweep.config_name(config), [int(s) for s in seeds]))
    return real_train(config, seeds, **kw)

  monkeypatch.setattr(ensemble, "train", train)
  censuses, again = sweep.run(CONFIGS, SEEDS, resume=resumed, trials="seed", out=io.StringIO(),
                              per_slice=2)
  assert again == resumed
  # Read back, not trained again: the first configuration.
  assert [name for name, _ in trained].count(sweep.config_name(CONFIGS[0])) == 0
  assert len(trained) == 3 * (len(CONFIGS) - 1)
  assert ensemble.census_table(censuses) == ensemble.census_table(straight_censuses)
  expected, got = snapshot(straight), snapshot(resumed)
  assert sorted(got) == sorted(expected)
  assert len(expected) == 1 + len(CONFIGS) * (1 + len(SEEDS))  # root, configs, trials
  for run in expected:
    assert got[run] == expected[run], run
  census_text = expected["."]["census"][0][0][1]
  assert all(ensemble.describe(c).encode() in census_text for c in CONFIGS)
  straight_results, resumed_results = saved_results(straight), saved_results(resumed)
  # Nor do slices change a seed's numbers: all five seeds in one slice give the same.
  _, whole = sweep.run(CONFIGS, SEEDS, logdir=str(tmp_path), sweep_name="whole", trials="none",
                       out=io.StringIO())
  for other in (resumed_results, saved_results(whole)):
    for name, fields in straight_results.items():
      for field, values in fields.items():
        np.testing.assert_array_equal(other[name][field], values, err_msg=name + field)


def start_sweep(tmp_path, *args):
  env = dict(os.environ, PYTHONPATH=REPO)
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a learner runs it: native logs must not show
  proc = subprocess.Popen(
      [sys.executable, "-u", "-m", "xor_tf.sweep", f"--logdir={tmp_path}", "--sweep_name=s",
       *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
  return proc


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_sweep_with_the_census_of_what_finished(tmp_path, signum, status):
  # Each configuration takes seconds: the signal comes as the second sets off.
  proc = start_sweep(tmp_path, "--arch=nn", "--learning_rate=1,5", "--seeds=0-2",
                     "--steps=1000000", "--trials=config")
  try:
    lines = []
    for line in proc.stdout:
      lines.append(line)
      if line.startswith("[1/2]"):
        break
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
  finally:
    proc.kill()
  out = "".join(lines) + out
  assert proc.returncode == status, err
  assert err == ""
  assert f"stopped by {signal.Signals(signum).name}: 1 of 2 configurations finished" in out
  assert f"continue it: python -m xor_tf.sweep --resume={tmp_path / 's'}" in out
  census = events.read(str(tmp_path / "s"))["census"][0][1].item().decode()
  first, second = (config(arch="nn", learning_rate=rate, steps=1000000) for rate in (1, 5))
  assert ensemble.describe(first) in census and ensemble.describe(second) not in census
  for c, finished in ((first, (True, [(0, 3)])), (second, (False, []))):
    assert sweep.on_disk(sweep.results_dir(str(tmp_path / "s"), sweep.config_name(c))) == finished


def test_resume_refuses_what_is_not_a_sweep_or_changes_it(tmp_path):
  proc = run_module("xor_tf.sweep", f"--resume={tmp_path}")
  assert proc.returncode == 2
  line, = proc.stderr.strip().splitlines()
  assert "--resume expects a sweep directory" in line
  proc = run_module("xor_tf.sweep", f"--resume={tmp_path}", "--seeds=0-9")
  assert proc.returncode == 2
  line, = proc.stderr.strip().splitlines()
  assert "received --seeds" in line


@pytest.mark.parametrize("seeds,named", [
    ("0-99999999999", "at most"),
    ("99999999999999999999", "from 0 to 9223372036854775807"),
])
def test_seeds_beyond_what_fits_are_refused_up_front(tmp_path, seeds, named):
  proc = run_module("xor_tf.sweep", f"--logdir={tmp_path}/l", f"--seeds={seeds}", timeout=60)
  assert proc.returncode == 2
  line, = proc.stderr.strip().splitlines()
  assert line.startswith("xor_tf.sweep: error: --seeds expects") and named in line
  assert not (tmp_path / "l").exists()


def test_the_largest_count_follows_the_memory_there_is():
  ten_gib = 10 * 2**30
  largest = sweep.largest_seed_count(ten_gib)
  assert largest == (ten_gib - sweep.TENSORFLOW_BYTES) // sweep.CENSUS_BYTES_PER_SEED
  sweep.check_seed_count(largest, ten_gib)
  with pytest.raises(ValueError, match=f"at most {largest} seeds"):
    sweep.check_seed_count(largest + 1, ten_gib)


def test_slices_cover_what_is_missing():
  assert sweep.to_train(5, [], 2) == [(0, 2), (2, 4), (4, 5)]
  assert sweep.to_train(10, [(0, 2), (6, 8)], 3) == [(2, 5), (5, 6), (8, 10)]
  assert sweep.to_train(4, [(0, 2), (2, 4)], 3) == []
  assert sweep.seed_ranges("5,0-3,2-6,9") == [(0, 6), (9, 9)]


@pytest.fixture
def small_disk(tmp_path):
  """A 64 KiB file system (tmpfs), 60 KiB of it taken; skipped where mounting is not allowed."""
  disk = tmp_path / "disk"
  disk.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                    capture_output=True, check=False).returncode != 0:
    pytest.skip("mounting a small tmpfs needs root")
  try:
    (disk / "filler").write_bytes(b"\0" * 60 * 1024)
    yield disk
  finally:
    subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_at_the_start_fails_in_one_line_and_leaves_nothing(small_disk):
  proc = run_module("xor_tf.sweep", f"--logdir={small_disk}/l", "--arch=nn", "--seeds=0-2",
                    "--steps=100", "--sweep_name=s")
  assert proc.returncode == 1
  line, = proc.stderr.strip().splitlines()
  assert line.startswith("xor_tf.sweep: error: could not write") and "No space left" in line
  assert not (small_disk / "l" / "s").exists()
