"""Runs that survive: resume bit for bit, signals, SIGKILL, divergence, concurrency, export."""

import dataclasses
import io
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, run_module
from xor_tf import config as config_lib
from xor_tf import events
from xor_tf import experiment
from xor_tf import export
from xor_tf import layout
from xor_tf import rundir
from xor_tf import training

CONFIG = config_lib.Config(arch="deep", optimizer="adam", learning_rate=0.05, steps=2000,
                           log_every=100, image_every=500)


def checkpoint_values(run_dir):
  """{variable path: value} of the latest checkpoint in a run directory."""
  reader = tf.train.load_checkpoint(os.path.join(run_dir, experiment.CHECKPOINTS))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if "OBJECT_GRAPH" not in name and not name.startswith("save_counter")}


def steps_per_tag(run_dir):
  return {tag: [step for step, _ in entries] for tag, entries in events.read(run_dir).items()}


def quiet_run(config, logdir, name, **kw):
  return experiment.run(config, logdir=str(logdir), run_name=name, out=io.StringIO(), **kw)


def test_resume_equals_straight_run_bit_for_bit(tmp_path):
  long = dataclasses.replace(CONFIG, steps=4000)
  quiet_run(CONFIG, tmp_path, "resumed", checkpoint_every=1000)
  experiment.resume(long, str(tmp_path / "resumed"), out=io.StringIO(), checkpoint_every=1000)
  quiet_run(long, tmp_path, "straight", checkpoint_every=1000)
  resumed, straight = (checkpoint_values(str(tmp_path / n)) for n in ("resumed", "straight"))
  assert resumed.keys() == straight.keys() and len(resumed) > 3
  for name in resumed:
    np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)
  assert int(resumed["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 4000
  resumed_steps, straight_steps = (steps_per_tag(str(tmp_path / n))
                                   for n in ("resumed", "straight"))
  assert straight_steps["loss"] == list(range(0, 4001, 100))
  # Every logging step once, as in the straight run, the truth table at every picture step.
  assert straight_steps["run/truth_table"] == list(range(0, 4001, 500))
  assert resumed_steps == straight_steps
  loss = lambda n: [float(v) for _, v in events.read(str(tmp_path / n))["loss"]]
  assert loss("resumed") == loss("straight")


def test_resume_after_a_kill_writes_each_logging_step_once(tmp_path):
  # A run killed at step 2000 whose newest checkpoint is step 1000: its event files already
  # hold steps 1100-2000, which the resumed run recomputes but must not write again.
  _, run_dir = quiet_run(CONFIG, tmp_path, "killed", checkpoint_every=1000)
  ckpt_dir = os.path.join(run_dir, experiment.CHECKPOINTS)
  for f in tf.io.gfile.glob(os.path.join(ckpt_dir, "ckpt-2000*")):
    os.remove(f)
  tf.compat.v1.train.update_checkpoint_state(ckpt_dir, os.path.join(ckpt_dir, "ckpt-1000"))
  experiment.resume(dataclasses.replace(CONFIG, steps=3000), run_dir, out=io.StringIO(),
                    checkpoint_every=1000)
  for tag, steps in steps_per_tag(run_dir).items():
    if tag.startswith("pictures/"):
      assert steps == list(range(0, 3001, 500)), tag
    elif tag == layout.TAG:  # once per run: not again on resume
      assert steps == [0], tag
    elif tag != "run/truth_table":
      assert steps == list(range(0, 3001, 100)), tag


def test_divergence_keeps_the_last_finite_checkpoint(tmp_path):
  _, run_dir = quiet_run(dataclasses.replace(CONFIG, steps=1000), tmp_path, "run",
                         checkpoint_every=500)
  before = sorted(os.listdir(os.path.join(run_dir, experiment.CHECKPOINTS)))
  # BCE from logits stays finite at any sane rate; Adam at 1e38 overflows the weights to inf.
  wild = dataclasses.replace(CONFIG, steps=2000, learning_rate=1e38)
  with pytest.raises(training.Diverged) as caught:
    experiment.resume(wild, run_dir, out=io.StringIO(), checkpoint_every=500)
  assert 1000 < caught.value.step <= 1010
  assert sorted(os.listdir(os.path.join(run_dir, experiment.CHECKPOINTS))) == before
  assert all(np.isfinite(float(v)) for _, v in events.read(run_dir)["loss"])


def test_a_non_finite_logging_step_is_neither_recorded_nor_written(tmp_path):
  # Every step a logging step: the first non-finite loss is at one.
  config = config_lib.Config(arch="nn", optimizer="adam", learning_rate=1e38, steps=100,
                             log_every=1, image_every=1)
  writer = tf.summary.create_file_writer(str(tmp_path))
  logged = []
  with pytest.raises(training.Diverged) as caught:
    training.train(config, writer=writer, on_log=lambda step, loss, _: logged.append(loss))
  writer.close()
  assert caught.value.step == 1 and logged and all(np.isfinite(logged))
  written = events.read(str(tmp_path))
  assert [step for step, _ in written["loss"]] == [0]
  assert {tag: [s for s, _ in v] for tag, v in written.items()} == {tag: [0] for tag in written}


def test_a_resumed_run_writes_no_empty_events(tmp_path):
  # Event files from before the resume hold the scalars through 1800 but the pictures (every
  # 500 steps) only through 1500: steps 1100-1800 are recomputed and must write nothing.
  config = config_lib.Config(arch="nn", steps=2000, log_every=100, image_every=500)
  first = training.create(config)
  training.train(dataclasses.replace(config, steps=1000), loop=first)
  writer = tf.summary.create_file_writer(str(tmp_path))
  loop = training.create(config, writer)  # as a resume restores it from a checkpoint
  tf.nest.map_structure(lambda var, value: var.assign(value), loop.carried, first.carried)
  through = {tag: 1500 if tag.startswith("pictures/") else 1800 for tag in loop.tags}
  training.train(config, writer=writer, loop=loop, written_through=through)
  writer.close()
  path, = tf.io.gfile.glob(str(tmp_path / "events.out.tfevents.*"))
  summaries = [e for e in tf.compat.v1.train.summary_iterator(path) if e.HasField("summary")]
  assert sorted({e.step for e in summaries}) == [1900, 2000]
  assert all(len(e.summary.value) == 1 for e in summaries)  # one tag per event, none empty
  drawn = lambda tag: tag.startswith("pictures/") or tag == "run/truth_table"
  assert {tag: [s for s, _ in v] for tag, v in events.read(str(tmp_path)).items()} == {
      tag: [2000] if drawn(tag) else [1900, 2000] for tag in loop.tags}


def test_cli_divergence_message(tmp_path):
  proc = run_module("xor_tf.train", f"--logdir={tmp_path}", "--optimizer=adam",
                    "--learning_rate=1e38", "--steps=100")
  assert proc.returncode == 3
  line, = proc.stderr.strip().splitlines()
  assert "non-finite at step 1" in line and "smaller --learning_rate" in line


def start_cli(tmp_path, *args):
  env = dict(os.environ, PYTHONPATH=REPO)
  proc = subprocess.Popen(
      [sys.executable, "-u", "-m", "xor_tf.train", f"--logdir={tmp_path}", "--run_name=long",
       "--steps=50000000", "--log_every=1000", "--image_every=0", "--checkpoint_every=100000",
       *args],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
  for line in proc.stdout:  # wait until training has started: the step-0 line
    if line.startswith("step"):
      break
  time.sleep(0.5)
  return proc


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_with_a_checkpoint(tmp_path, signum, status):
  proc = start_cli(tmp_path)
  try:
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=60)
  finally:
    proc.kill()
  assert proc.returncode == status
  assert f"--resume={tmp_path / 'long'}" in out
  run_dir = str(tmp_path / "long")
  step = int(checkpoint_values(run_dir)["step/.ATTRIBUTES/VARIABLE_VALUE"])
  assert 0 < step < 50000000
  logged = steps_per_tag(run_dir)["loss"]
  assert logged == list(range(0, logged[-1] + 1, 1000)) and logged[-1] <= step


def test_sigkill_leaves_readable_event_files(tmp_path):
  proc = start_cli(tmp_path)
  time.sleep(0.5)
  proc.kill()
  proc.wait(timeout=30)
  logged = steps_per_tag(str(tmp_path / "long"))
  assert logged["loss"][:2] == [0, 1000]
  assert logged["loss"] == list(range(0, logged["loss"][-1] + 1, 1000))


def test_a_logging_step_is_on_disk_before_training_passes_the_next(tmp_path):
  """What bounds a SIGKILL's loss: each time training sets off from logging step L towards the
  next, the event files already hold every logging step up to L - log_every."""
  config = config_lib.Config(arch="nn", steps=3000, log_every=100, image_every=500)
  writer = tf.summary.create_file_writer(str(tmp_path))
  loop = training.create(config, writer)
  advance, seen = loop._advance, []

  def on_disk(counters):  # runs in the graph, just before the compiled training sets off
    logged = steps_per_tag(str(tmp_path)).get("loss", [])
    seen.append((int(counters[1]), logged[-1] if logged else -1))
    return counters

  @tf.function(autograph=False)
  def watched(packed, counters, log_steps, metrics, start_logs):
    counters = tf.reshape(tf.py_function(on_disk, [counters], tf.int64), [4])
    return advance(packed, counters, log_steps, metrics, start_logs)

  loop._advance = watched
  training.train(config, writer=writer, loop=loop)
  writer.close()
  # Each time it sets off, with its state (the first call stays at 0 and compiles).
  assert [step for step, _ in seen] == [0, *range(0, 3000, 100)]
  for step, last_on_disk in seen:
    assert last_on_disk >= step - config.log_every, (step, last_on_disk)
  assert steps_per_tag(str(tmp_path))["loss"] == list(range(0, 3001, 100))


def test_concurrent_runs_never_share_a_directory(tmp_path):
  made, failed = [], []

  def create():
    try:
      made.append(rundir.create(str(tmp_path), "same"))
    except FileExistsError:
      failed.append(True)

  threads = [threading.Thread(target=create) for _ in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert len(made) == 1 and len(failed) == 7
  names = {rundir.default_name(CONFIG) for _ in range(50)}
  assert len(names) > 45  # same second, same flags: the random suffix tells them apart


@pytest.mark.parametrize("case", ["not a run", "no checkpoint", "corrupt checkpoint"])
def test_bad_resume_fails_in_one_line_and_writes_nothing(tmp_path, case):
  run_dir = tmp_path / "run"
  if case == "not a run":
    run_dir.mkdir()
  else:
    quiet_run(dataclasses.replace(CONFIG, steps=200), tmp_path, "run", checkpoint_every=100)
    for f in (run_dir / experiment.CHECKPOINTS).iterdir():
      if case == "no checkpoint":
        f.unlink()
      elif ".data" in f.name:
        f.write_bytes(b"garbage")
  before = sorted(p.name for p in run_dir.rglob("*"))
  proc = run_module("xor_tf.train", f"--resume={run_dir}", "--steps=400")
  assert proc.returncode == 2
  line, = proc.stderr.strip().splitlines()
  assert "--resume expects" in line
  assert sorted(p.name for p in run_dir.rglob("*")) == before


def test_export_round_trip(tmp_path):
  result, run_dir = quiet_run(dataclasses.replace(CONFIG, steps=500), tmp_path, "run",
                              export=True)
  serve = export.load(os.path.join(run_dir, experiment.SAVED_MODEL))
  out = serve(points=tf.constant([[0, 0], [0, 1], [1, 0], [1, 1]], tf.float32))
  np.testing.assert_allclose(out["probability"].numpy(), result.probabilities, rtol=1e-6)
  proc = run_module("xor_tf.predict", f"--model={run_dir}/saved_model", "0,1", "1,1")
  assert proc.returncode == 0, proc.stderr
  assert f"| 0 | 1 | {result.probabilities[1]:.4f} | 1 |" in proc.stdout
  assert f"| 1 | 1 | {result.probabilities[3]:.4f} | 0 |" in proc.stdout
  bad = run_module("xor_tf.predict", f"--model={run_dir}/saved_model", "0;1")
  assert bad.returncode == 2 and "x1,x2" in bad.stderr
  # A truncated variables file: one line, exit 2, no traceback.
  data, = tf.io.gfile.glob(os.path.join(run_dir, "saved_model", "variables", "*.data*"))
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  bad = run_module("xor_tf.predict", f"--model={run_dir}/saved_model", "0,1")
  assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
  line, = bad.stderr.strip().splitlines()
  assert line.startswith("xor_tf.predict: error: --model expects a SavedModel")
