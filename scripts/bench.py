"""Benchmarks xor_tf's training against the course notebooks' loops, Keras fit, NumPy and PyTorch.

  python scripts/bench.py                       # the full run: 10,000 steps, 3 reps, interleaved
  python scripts/bench.py --reps=1 --steps=1000 --slow_steps=100 --skip=keras_fit_tb,cli

Prints a table of median µs per training step and each one's ratio to xor_tf (with the same
summaries), the process start-up figures, the event-file sizes and the issue's targets as
PASS/FAIL lines; writes the same as JSON (--json; default: a new temporary directory, so
nothing is left in the repository). A benchmark, not a test: nothing here is asserted.
"""

import contextlib
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# Child processes get the environment this script started with, so a bare TensorFlow import and
# the CLI are timed under the same settings (this process quiets TensorFlow for itself only).
_BASE_ENV = dict(os.environ)

# In-process implementations, in table order. The slow ones run --slow_steps steps.
LABELS = {
    "xor_tf": "xor_tf, summaries every 100",
    "xor_tf_log1000": "xor_tf, summaries every 1000",
    "xor_tf_log1": "xor_tf, summaries every step",
    "xor_tf_pictures": "xor_tf, summaries every 100 + its default pictures",
    "xor_tf_pictures_all": "xor_tf, summaries + pictures every 100",
    "xor_tf_nowriter": "xor_tf, stops every 100, no writer",
    "xor_tf_nolog": "xor_tf, no summaries",
    "notebook": "notebook loop (tf.data + tf.function)",
    "keras_fit": "Keras fit",
    "keras_fit_tb": "Keras fit + TensorBoard(histogram_freq={freq})",
    "numpy": "NumPy, hand-written backprop",
    "torch": "PyTorch nn.Sequential",
}
SLOW = ("notebook", "keras_fit", "keras_fit_tb")
# Separate-process measurements, also skippable by name.
PROCESSES = ("tf_import", "cli", "startup")
MLP_ARCHS = ("logistic", "nn", "deep")
TARGET_EVENT_BYTES = 1_000_000

_REPS = flags.DEFINE_integer("reps", 3, "Repetitions of every measurement, interleaved.")
_STEPS = flags.DEFINE_integer("steps", 10_000, "Training steps of the fast implementations.")
_SLOW_STEPS = flags.DEFINE_integer(
    "slow_steps", 300, "Training steps of the slow baselines: " + ", ".join(SLOW) + ".")
_ARCHS = flags.DEFINE_list("archs", ["deep", "nn"], "Architectures: any of " + ", ".join(MLP_ARCHS))
_LOG_EVERY = flags.DEFINE_integer(
    "log_every", 100, "Summaries every this many steps (xor_tf's main row and the notebook loop).")
_LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", 0.1, "Plain SGD's learning rate, the same for every implementation.")
_NUMPY_DTYPE = flags.DEFINE_enum(
    "numpy_dtype", "float64", ["float64", "float32"],
    "dtype of the NumPy loop; float64 is what the NumPy notebooks compute in.")
_KERAS_HISTOGRAM_FREQ = flags.DEFINE_integer(
    "keras_histogram_freq", 1, "histogram_freq of the Keras TensorBoard callback, in epochs "
    "(= steps here: one 4-sample batch per epoch).")
_PROCESS_REPS = flags.DEFINE_integer(
    "process_reps", 3, "Repetitions of each separate-process measurement (TF import, CLI).")
_JSON = flags.DEFINE_string("json", None, "Where to write the JSON; default: a new temp dir.")
_SKIP = flags.DEFINE_list(
    "skip", [], "Measurements to leave out: any of " + ", ".join((*LABELS, *PROCESSES)) + ".")

flags.register_validator("archs", lambda v: v and all(a in MLP_ARCHS for a in v),
                         message="expected a list of " + ", ".join(MLP_ARCHS))
flags.register_validator("skip", lambda v: all(s in LABELS or s in PROCESSES for s in v),
                         message="expected names from " + ", ".join((*LABELS, *PROCESSES)))
for _name in ("reps", "steps", "slow_steps", "log_every", "process_reps"):
  flags.register_validator(_name, lambda v: v is not None and v > 0, message="expected > 0")


def progress(message):
  print(message, file=sys.stderr, flush=True)


def event_bytes(directory):
  """Total size of the TensorBoard event files under `directory`."""
  total = 0
  for root, _, files in os.walk(directory):
    total += sum(os.path.getsize(os.path.join(root, f)) for f in files if "tfevents" in f)
  return total


def layer_sizes(arch):
  from xor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  return (2, *config_lib.Config(arch=arch).widths, 1)


# --- xor_tf -----------------------------------------------------------------------------------

def graph_building_seconds():
  """Seconds TensorFlow has spent tracing tf.functions in this process, or None.

  TensorFlow keeps this counter for its own monitoring; it is private, so it may go away.
  """
  try:
    # pylint: disable-next=g-import-not-at-top
    from tensorflow.python.eager.polymorphic_function import tracing_compilation as tc
    counter = tc._graph_building_time_counter  # pylint: disable=protected-access
    return counter.get_cell().value() / 1e6
  except (ImportError, AttributeError):
    return None


class FirstLog:
  """An on_log callback that notes when the first logged step came back, and the tracing so far.

  xor_tf's first compiled call logs step 0, so this is the time to the first step: building
  the network, tracing, XLA compiling and running that call.
  """

  def __init__(self):
    self.at = None
    self.traced_before = graph_building_seconds()
    self.traced = None

  def __call__(self, *unused_args):
    if self.at is None:
      self.at = time.perf_counter()
      now = graph_building_seconds()
      if now is not None and self.traced_before is not None:
        self.traced = now - self.traced_before

  def seconds(self, start):
    return None if self.at is None else self.at - start


def xor_tf_config(*, pictures=False, **values):
  """A Config of `values` that logs what the notebooks log: loss, accuracy, histograms.

  Options the package may offer beyond those (pictures, diagnostics) are turned off unless
  `pictures` keeps the package's default pictures.
  """
  from xor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  fields = {f.name for f in dataclasses.fields(config_lib.Config)}
  extras = {"diagnostics": False} if pictures else {"image_every": 0, "diagnostics": False}
  return config_lib.Config(**{k: v for k, v in extras.items() if k in fields}, **values)


def run_xor_tf(arch, steps, workdir, *, log_every, write, pictures=False, image_every=None):
  """xor_tf's own training.train with plain SGD; µs/step as it reports (first call excluded).

  With `pictures`, the package's pictures every `image_every` steps (default: its default).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from xor_tf import training  # pylint: disable=g-import-not-at-top

  extra = {"image_every": image_every} if image_every is not None else {}
  config = xor_tf_config(arch=arch, steps=steps, log_every=log_every, optimizer="sgd",
                         learning_rate=_LEARNING_RATE.value, pictures=pictures, **extra)
  logdir = tempfile.mkdtemp(dir=workdir)
  writer = tf.summary.create_file_writer(logdir, max_queue=1000) if write else None
  first = FirstLog()
  start = time.perf_counter()
  result = training.train(config, writer=writer, on_log=first)
  total = time.perf_counter() - start
  if writer is not None:
    writer.close()
  return {"us_per_step": result.us_per_step, "event_bytes": event_bytes(logdir),
          "first_step_seconds": first.seconds(start), "trace_seconds": first.traced,
          # Everything train() does outside its timed chunks: building, tracing, XLA compiling,
          # the first call (step 0's summaries), the final flush.
          "untimed_seconds": total - result.train_seconds,
          "trace_count": result.trace_count, "final_loss": result.loss}


# --- the notebook loop (seeds/003): tf.data, @tf.function step with GradientTape ---------------

def run_notebook(arch, steps, workdir, *, log_every):
  """The TF notebook's loop, logging the same tags as xor_tf every `log_every` steps.

  The step is passed as an int64 tensor: the notebook's Python int would retrace every step.
  `tf.summary.record_if` keeps the summaries inside the step, where the notebook writes them.
  """
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from xor_tf import data  # pylint: disable=g-import-not-at-top

  sizes = layer_sizes(arch)
  dataset = tf.data.Dataset.from_tensor_slices((data.INPUTS, data.LABELS)).batch(len(data.INPUTS))
  weights = [tf.Variable(tf.random.normal([a, b]), name=f"weight{i + 1}")
             for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
  biases = [tf.Variable(tf.random.normal([b]), name=f"bias{i + 1}")
            for i, b in enumerate(sizes[1:])]
  optimizer = keras.optimizers.SGD(learning_rate=_LEARNING_RATE.value)
  logdir = tempfile.mkdtemp(dir=workdir)
  writer = tf.summary.create_file_writer(logdir)

  def preprocess_data(features, labels):
    return tf.cast(features, tf.float32), tf.cast(labels, tf.float32)

  def neural_net(features):
    layers, h = [], features
    for w, b in zip(weights, biases):
      h = tf.sigmoid(tf.matmul(h, w) + b)
      layers.append(h)
    return layers

  def loss_fn(hypothesis, labels):
    return -tf.reduce_mean(labels * tf.math.log(hypothesis + 1e-7)
                           + (1.0 - labels) * tf.math.log(1.0 - hypothesis + 1e-7))

  def accuracy_fn(hypothesis, labels):
    predicted = tf.cast(hypothesis > 0.5, dtype=tf.float32)
    return tf.reduce_mean(tf.cast(tf.equal(predicted, labels), dtype=tf.float32))

  @tf.function
  def train_step(features, labels, step):
    with tf.GradientTape() as tape:
      layers = neural_net(features)
      loss_value = loss_fn(layers[-1], labels)
    variables = weights + biases
    grads = tape.gradient(loss_value, variables)
    optimizer.apply_gradients(zip(grads, variables))
    with writer.as_default(step=step), tf.summary.record_if(step % log_every == 0):
      tf.summary.scalar("loss", loss_value)
      tf.summary.scalar("accuracy", accuracy_fn(layers[-1], labels))
      for i, (w, b) in enumerate(zip(weights, biases)):
        tf.summary.histogram(f"weights/layer{i + 1}/kernel", w)
        tf.summary.histogram(f"weights/layer{i + 1}/bias", b)
      for i, layer in enumerate(layers):
        name = "output" if i == len(layers) - 1 else f"layer{i + 1}"
        tf.summary.histogram(f"activations/{name}", layer)
    return loss_value

  def epoch(step):
    for features, labels in dataset:
      features, labels = preprocess_data(features, labels)
      train_step(features, labels, tf.constant(step, tf.int64))

  epoch(0)  # traces and logs step 0, untimed as xor_tf's first call is
  start = time.perf_counter()
  for step in range(1, steps + 1):
    epoch(step)
  seconds = time.perf_counter() - start
  writer.close()
  return {"us_per_step": 1e6 * seconds / steps, "event_bytes": event_bytes(logdir),
          "trace_count": train_step.experimental_get_tracing_count()}


# --- Keras fit (seeds/003), one 4-sample batch per epoch -----------------------------------------

def run_keras_fit(arch, steps, workdir, *, tensorboard):
  """model.fit(epochs=steps) on the four points; a 1-epoch fit first builds its train function."""
  import keras  # pylint: disable=g-import-not-at-top
  from xor_tf import data  # pylint: disable=g-import-not-at-top

  sizes = layer_sizes(arch)
  model = keras.Sequential([keras.Input((2,))] + [
      keras.layers.Dense(width, activation="sigmoid") for width in sizes[1:]])
  model.compile(optimizer=keras.optimizers.SGD(learning_rate=_LEARNING_RATE.value),
                loss="binary_crossentropy", metrics=["binary_accuracy"])
  model.fit(data.INPUTS, data.LABELS, epochs=1, verbose=0)
  logdir = tempfile.mkdtemp(dir=workdir)
  callbacks = []
  if tensorboard:
    callbacks.append(keras.callbacks.TensorBoard(
        log_dir=logdir, histogram_freq=_KERAS_HISTOGRAM_FREQ.value))
  start = time.perf_counter()
  model.fit(data.INPUTS, data.LABELS, epochs=steps, verbose=0, callbacks=callbacks)
  seconds = time.perf_counter() - start
  return {"us_per_step": 1e6 * seconds / steps, "event_bytes": event_bytes(logdir)}


# --- NumPy (seeds/000, 001): hand-written backprop ----------------------------------------------

def run_numpy(arch, steps, workdir, *, log_every):
  """Sigmoid MLP with mean BCE, gradients by hand; the loss computed every log_every steps."""
  del workdir
  import numpy as np  # pylint: disable=g-import-not-at-top
  from xor_tf import data  # pylint: disable=g-import-not-at-top

  dtype = np.dtype(_NUMPY_DTYPE.value)
  lr = dtype.type(_LEARNING_RATE.value)
  sizes = layer_sizes(arch)
  rng = np.random.default_rng(0)
  weights = [rng.uniform(-1, 1, (a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:])]
  biases = [np.zeros(b, dtype) for b in sizes[1:]]
  x, y = data.INPUTS.astype(dtype), data.LABELS.astype(dtype)

  def step(log):
    layers = [x]
    for w, b in zip(weights, biases):
      layers.append(1 / (1 + np.exp(-(layers[-1] @ w + b))))
    h = layers[-1]
    delta = (h - y) / len(x)  # d(mean BCE)/d(logits) of a sigmoid output
    for i in reversed(range(len(weights))):
      grad_w, grad_b = layers[i].T @ delta, delta.sum(axis=0)
      if i:
        delta = (delta @ weights[i].T) * layers[i] * (1 - layers[i])
      weights[i] -= lr * grad_w
      biases[i] -= lr * grad_b
    if log:  # the notebooks print the cost every N steps
      return -np.mean(y * np.log(h) + (1 - y) * np.log(1 - h))
    return None

  step(True)
  start = time.perf_counter()
  for s in range(1, steps + 1):
    step(s % log_every == 0)
  seconds = time.perf_counter() - start
  assert weights[0].dtype == dtype  # the update must not have promoted float32 to float64
  return {"us_per_step": 1e6 * seconds / steps}


# --- PyTorch (seeds/004): nn.Sequential, BCELoss, SGD ---------------------------------------------

def run_torch(arch, steps, workdir, *, log_every):
  """The PyTorch notebook's loop, cost.item() every log_every steps as it prints."""
  del workdir
  import torch  # pylint: disable=g-import-not-at-top
  from xor_tf import data  # pylint: disable=g-import-not-at-top

  sizes = layer_sizes(arch)
  torch.manual_seed(0)
  layers = []
  for a, b in zip(sizes, sizes[1:]):
    layers += [torch.nn.Linear(a, b), torch.nn.Sigmoid()]
  model = torch.nn.Sequential(*layers)
  criterion = torch.nn.BCELoss()
  optimizer = torch.optim.SGD(model.parameters(), lr=_LEARNING_RATE.value)
  x, y = torch.from_numpy(data.INPUTS), torch.from_numpy(data.LABELS)

  def step():
    optimizer.zero_grad()
    cost = criterion(model(x), y)
    cost.backward()
    optimizer.step()
    return cost

  step().item()
  start = time.perf_counter()
  for s in range(1, steps + 1):
    cost = step()
    if s % log_every == 0:
      cost.item()
  seconds = time.perf_counter() - start
  return {"us_per_step": 1e6 * seconds / steps, "threads": torch.get_num_threads()}


def runners():
  """{implementation: (run(arch, workdir) -> measurement dict, steps)}."""
  steps, slow, every = _STEPS.value, _SLOW_STEPS.value, _LOG_EVERY.value
  tenth = max(1, steps // 10)
  return {
      "xor_tf": (lambda a, d: run_xor_tf(a, steps, d, log_every=every, write=True), steps),
      "xor_tf_log1000": (lambda a, d: run_xor_tf(a, steps, d, log_every=1000, write=True), steps),
      # Every step a logging step, as the notebooks and Keras' histogram_freq=1 log: the cost of
      # one logging step's summaries, over a tenth of the steps.
      "xor_tf_log1": (lambda a, d: run_xor_tf(a, tenth, d, log_every=1, write=True), tenth),
      "xor_tf_pictures": (lambda a, d: run_xor_tf(a, steps, d, log_every=every, write=True,
                                                  pictures=True), steps),
      "xor_tf_pictures_all": (lambda a, d: run_xor_tf(a, steps, d, log_every=every, write=True,
                                                      pictures=True, image_every=every), steps),
      "xor_tf_nowriter": (lambda a, d: run_xor_tf(a, steps, d, log_every=every, write=False),
                          steps),
      "xor_tf_nolog": (lambda a, d: run_xor_tf(a, steps, d, log_every=steps, write=False), steps),
      "notebook": (lambda a, d: run_notebook(a, slow, d, log_every=every), slow),
      "keras_fit": (lambda a, d: run_keras_fit(a, slow, d, tensorboard=False), slow),
      "keras_fit_tb": (lambda a, d: run_keras_fit(a, slow, d, tensorboard=True), slow),
      "numpy": (lambda a, d: run_numpy(a, steps, d, log_every=every), steps),
      "torch": (lambda a, d: run_torch(a, steps, d, log_every=every), steps),
  }


# --- separate processes ------------------------------------------------------------------------

def snapshot_package(workdir):
  """Copies xor_tf to `workdir` and imports it from there, in this process and its children.

  A full run takes minutes; edits to the package meanwhile must not mix two versions in one table.
  """
  global _PACKAGE_ROOT
  root = os.path.join(workdir, "snapshot")
  shutil.copytree(os.path.join(REPO, "xor_tf"), os.path.join(root, "xor_tf"),
                  ignore=shutil.ignore_patterns("__pycache__"))
  sys.path.insert(0, root)
  _PACKAGE_ROOT = root


_PACKAGE_ROOT = REPO


def git_version():
  try:
    return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def timed_process(args, *, cwd, cache=None, extra_env=None):
  """Runs `python args` with the starting environment plus the package on PYTHONPATH.

  `cache` becomes XDG_CACHE_HOME, where xor_tf keeps compiled XLA programs between runs: a new
  directory times a first run on a machine, a used one a later run, and the user's own cache
  is neither read nor written.
  """
  env = dict(_BASE_ENV, PYTHONPATH=os.pathsep.join(
      p for p in (_PACKAGE_ROOT, _BASE_ENV.get("PYTHONPATH")) if p))
  if cache is not None:
    env["XDG_CACHE_HOME"] = cache
  env.update(extra_env or {})
  start = time.perf_counter()
  proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                        text=True, check=False)
  seconds = time.perf_counter() - start
  if proc.returncode != 0:
    raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
  return seconds, proc.stdout


def run_tf_import(workdir):
  seconds, _ = timed_process(["-c", "import tensorflow"], cwd=workdir)
  python_seconds, _ = timed_process(["-c", "pass"], cwd=workdir)
  return {"seconds": seconds, "python_seconds": python_seconds}


def run_cli(workdir):
  """The whole `python -m xor_tf.train --arch=deep` at its defaults, into a temp --logdir.

  Cold: as every run is by default (xor_tf's XLA cache is opt-in). Warm: with
  XOR_TF_XLA_CACHE=1 and a cache that an untimed run of the same command filled.
  """
  cache = tempfile.mkdtemp(dir=workdir)
  out = {}
  for prefix, extra in (("", {}), (None, {"XOR_TF_XLA_CACHE": "1"}),
                        ("warm_", {"XOR_TF_XLA_CACHE": "1"})):
    logdir = tempfile.mkdtemp(dir=workdir)
    seconds, text = timed_process(["-m", "xor_tf.train", "--arch=deep", f"--logdir={logdir}"],
                                  cwd=workdir, cache=cache, extra_env=extra)
    if prefix is None:  # the run that fills the cache
      continue
    match = re.search(r"training: (\d+) steps in ([0-9.]+) s, ([0-9.]+) µs/step", text)
    out.update({f"{prefix}seconds": seconds, f"{prefix}event_bytes": event_bytes(logdir),
                f"{prefix}train_seconds": float(match.group(2)) if match else None,
                f"{prefix}us_per_step": float(match.group(3)) if match else None})
  out["help_seconds"], _ = timed_process(["-m", "xor_tf.train", "--help"], cwd=workdir)
  return out


# A fresh xor_tf run phase by phase, in its own process, through xor_tf's public API as the CLI
# calls it: the wait a learner sits through. FirstLog and graph_building_seconds come from this
# file, so this process imports it (its flags are not parsed there).
STARTUP_SCRIPT = r"""
import json, os, sys, tempfile, time
t = [time.perf_counter()]
try:  # as the CLI imports it: its settings, its compilation cache
  from xor_tf import quiet
  tf = quiet.import_tensorflow()
except (ImportError, AttributeError):
  import tensorflow as tf
t.append(time.perf_counter())
tf.config.list_logical_devices()
t.append(time.perf_counter())
from xor_tf import config as config_lib
from xor_tf import experiment
from xor_tf import training
t.append(time.perf_counter())
keras_imported = "keras" in sys.modules
sys.path.insert(0, sys.argv[2])
import bench
writer = tf.summary.create_file_writer(tempfile.mkdtemp())
first = bench.FirstLog()
start = time.perf_counter()
result = training.train(config_lib.Config(arch=sys.argv[1]), writer=writer, on_log=first)
end = time.perf_counter()
writer.close()
t.append(time.perf_counter())
first_step = first.seconds(start)
print(json.dumps({
    "import_tensorflow": t[1] - t[0], "list_devices": t[2] - t[1], "import_xor_tf": t[3] - t[2],
    "first_step": first_step, "of_which_trace": first.traced,
    "of_which_build_compile_run": first_step - (first.traced or 0.0),
    "training": result.train_seconds,
    "rest_of_train": end - start - first_step - result.train_seconds,
    "writer_close": t[4] - end, "keras_imported": keras_imported,
}))
"""


STARTUP_PHASES = ("import_tensorflow", "list_devices", "import_xor_tf", "first_step",
                  "training", "rest_of_train", "writer_close")


def run_startup(workdir, arch="deep"):
  """The phases of a fresh run with an empty compilation cache, then again with it filled."""
  cache = tempfile.mkdtemp(dir=workdir)
  out = {}
  for prefix in ("", "warm_"):
    seconds, text = timed_process(
        ["-c", STARTUP_SCRIPT, arch, os.path.dirname(os.path.abspath(__file__))], cwd=workdir,
        cache=cache)
    phases = json.loads(text.strip().splitlines()[-1])
    # What the phases leave out: starting the interpreter and shutting TensorFlow down.
    phases["outside_phases"] = seconds - sum(phases[k] for k in STARTUP_PHASES)
    phases["process_seconds"] = seconds
    out.update({prefix + k: v for k, v in phases.items()})
  return out


PROCESS_RUNNERS = {"tf_import": run_tf_import, "cli": run_cli, "startup": run_startup}


# --- the run ----------------------------------------------------------------------------------

def median_of(runs, key, pick=statistics.median):
  values = [r[key] for r in runs if r.get(key) is not None]
  return pick(values) if values else None


def schedule(tasks, reps):
  """Round-robin: every rep runs every task once, each rep starting one place further on."""
  order = []
  for rep in range(reps):
    shift = (rep * max(1, len(tasks) // reps)) % max(1, len(tasks))
    order += [(rep, task) for task in tasks[shift:] + tasks[:shift]]
  return order


def measure(impls, archs, processes, workdir):
  """Runs everything interleaved; returns ({impl: {arch: [runs]}}, {process: [runs]}, errors)."""
  table = runners()
  results = {impl: {arch: [] for arch in archs} for impl in impls}
  process_results = {name: [] for name in processes}
  errors = {}
  tasks = [("impl", impl, arch) for impl in impls for arch in archs]
  tasks += [("process", name, None) for name in processes]
  reps = max(_REPS.value, _PROCESS_REPS.value)
  for rep, (kind, name, arch) in schedule(tasks, reps):
    if rep >= (_REPS.value if kind == "impl" else _PROCESS_REPS.value):
      continue
    key = f"{name}/{arch}" if arch else name
    if key in errors:
      continue
    scratch = tempfile.mkdtemp(dir=workdir)
    try:
      if kind == "impl":
        run = table[name][0](arch, scratch)
        results[name][arch].append(run)
        progress(f"rep {rep + 1}: {arch:>4} {name:<16} {run['us_per_step']:10.2f} µs/step")
      else:
        run = PROCESS_RUNNERS[name](scratch)
        process_results[name].append(run)
        progress(f"rep {rep + 1}: {name:<21} " + ", ".join(
            f"{k} {v:.3f}" for k, v in run.items() if isinstance(v, float)))
    except Exception as e:  # pylint: disable=broad-except (report it, measure the rest)
      errors[key] = f"{type(e).__name__}: {e}"
      progress(f"rep {rep + 1}: {key} failed: {errors[key]}")
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
  return results, process_results, errors


def ratio_text(value):
  if value is None:
    return "n/a"
  return f"{value:,.0f}×" if value >= 100 else f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def us_text(value):
  if value is None:
    return "n/a"
  return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def summarise(results, archs):
  """Rows of the table: median µs/step per arch and the ratio to xor_tf's main row."""
  steps = {impl: s for impl, (_, s) in runners().items()}
  base = {arch: median_of(results.get("xor_tf", {}).get(arch, []), "us_per_step")
          for arch in archs}
  rows = []
  for impl, per_arch in results.items():
    label = LABELS[impl].format(freq=_KERAS_HISTOGRAM_FREQ.value)
    row = {"impl": impl, "label": label, "steps": steps[impl], "archs": {}}
    for arch in archs:
      us = median_of(per_arch[arch], "us_per_step")
      row["archs"][arch] = {
          "us_per_step": us,
          "us_per_step_min": median_of(per_arch[arch], "us_per_step", min),
          "ratio_to_xor_tf": us / base[arch] if us and base[arch] else None,
          "event_bytes": median_of(per_arch[arch], "event_bytes"),
          "runs": per_arch[arch],
      }
    rows.append(row)
  return rows


def process_summary(process_results):
  out = {}
  for name, runs in process_results.items():
    if runs:
      keys = [k for k, v in runs[0].items()
              if isinstance(v, (int, float)) and not isinstance(v, bool)]
      out[name] = {k: median_of(runs, k) for k in keys}
      out[name]["runs"] = runs
  return out


def targets(rows, processes):
  """The issue's targets: (name, measured, bound, 'min'|'max'), measured None if not run."""
  def ratio(impl, arch):
    for row in rows:
      if row["impl"] == impl and arch in row["archs"]:
        return row["archs"][arch]["ratio_to_xor_tf"]
    return None

  cli, tf_import = processes.get("cli", {}), processes.get("tf_import", {})

  def cli_ratio(key):
    if cli.get(key) and tf_import.get("seconds"):
      return cli[key] / tf_import["seconds"]
    return None

  found = [
      ("deep: xor_tf ≥ 400× faster per step than the notebook loop", ratio("notebook", "deep"),
       400, "min", "×"),
      ("deep: xor_tf ≥ 6× faster per step than NumPy", ratio("numpy", "deep"), 6, "min", "×"),
      ("`python -m xor_tf.train --arch=deep`, cold (the default) ≤ 1.4× a bare "
       "`import tensorflow`", cli_ratio("seconds"), 1.4, "max", "×"),
      ("`python -m xor_tf.train --arch=deep`, XOR_TF_XLA_CACHE=1 and a filled cache ≤ 1.6× a "
       "bare `import tensorflow`", cli_ratio("warm_seconds"), 1.6, "max", "×"),
      ("event files of the default CLI run ≤ 1 MB", cli.get("event_bytes"), TARGET_EVENT_BYTES,
       "max", "B"),
  ]
  return [{"target": name, "measured": value, "bound": bound, "kind": kind, "unit": unit,
           "status": "SKIP" if value is None else
           "PASS" if (value >= bound if kind == "min" else value <= bound) else "FAIL"}
          for name, value, bound, kind, unit in found]


def seconds_text(value, digits=2):
  return "n/a" if value is None else f"{value:.{digits}f} s"


def row_us(report, impl, arch):
  for row in report["rows"]:
    if row["impl"] == impl:
      return row["archs"][arch]["us_per_step"]
  return None


def format_report(report):
  """The printed report, as lines."""
  m = report["meta"]
  archs = m["archs"]
  lines = [f"xor_tf {m['xor_tf_version']} benchmark: plain SGD, learning rate "
           f"{m['learning_rate']:g}, median of {m['reps']} interleaved reps; µs per training "
           f"step and how many times slower than xor_tf with summaries every {m['log_every']} "
           f"(NumPy in {m['numpy_dtype']})", ""]
  lines.append("| implementation | steps | " + " | ".join(
      f"{a} µs/step | {a} ratio" for a in archs) + " |")
  lines.append("|" + "---|" * (2 + 2 * len(archs)))
  for row in report["rows"]:
    cells = []
    for arch in archs:
      cell = row["archs"][arch]
      cells += [us_text(cell["us_per_step"]), ratio_text(cell["ratio_to_xor_tf"])]
    lines.append(f"| {row['label']} | {row['steps']:,} | " + " | ".join(cells) + " |")

  lines += ["", "where xor_tf's time goes (differences of the rows above):"]
  for arch in archs:
    full, log1, nowriter, nolog = (row_us(report, i, arch) for i in (
        "xor_tf", "xor_tf_log1", "xor_tf_nowriter", "xor_tf_nolog"))
    if None not in (full, nowriter, nolog):
      lines.append(
          f"  {arch}: training alone {nolog:.2f} µs/step; stopping every {m['log_every']} steps "
          f"(one compiled call per logging step) {nowriter - nolog:+.2f}; recording and writing "
          f"the summaries {full - nowriter:+.2f} (= {(full - nowriter) * m['log_every']:.0f} µs "
          f"per logging step) = {full:.2f}")
    if None not in (log1, nolog):
      lines.append(f"  {arch}: summaries every step: {log1:.1f} µs/step, so one logging step "
                   f"(observe + write) costs about {log1 - nolog:.0f} µs")
  for row in report["rows"]:
    if row["impl"] == "xor_tf":
      for arch in archs:
        runs = row["archs"][arch]["runs"]
        first, trace = median_of(runs, "first_step_seconds"), median_of(runs, "trace_seconds")
        lines.append(
            f"  {arch}: time to first step in this process (build, trace, XLA compile, run step "
            f"0): {seconds_text(first, 3)}, of which tracing {seconds_text(trace, 3)}")

  p = report["processes"]
  tf_import, cli, startup = p.get("tf_import", {}), p.get("cli", {}), p.get("startup", {})
  lines += ["", f"separate processes (median of {m['process_reps']}):"]
  if tf_import:
    lines.append(f"  bare `python -c 'import tensorflow'`: {seconds_text(tf_import.get('seconds'))}"
                 f" (`python -c pass`: {seconds_text(tf_import.get('python_seconds'))})")
  for prefix, what in (("", "cold (the default: no persistent XLA cache)"),
                       ("warm_", "XOR_TF_XLA_CACHE=1 with the cache filled")):
    if cli.get(prefix + "seconds") is not None:
      seconds = cli[prefix + "seconds"]
      ratio = seconds / tf_import["seconds"] if tf_import.get("seconds") else None
      us = cli.get(prefix + "us_per_step")
      lines.append(f"  `python -m xor_tf.train --arch=deep` at its defaults, {what}: "
                   f"{seconds_text(seconds)} = {ratio_text(ratio)} the bare import; training in "
                   f"it {seconds_text(cli.get(prefix + 'train_seconds'), 3)} "
                   f"({'n/a' if us is None else f'{us:.1f}'} µs/step)")
  if cli.get("help_seconds") is not None:
    lines.append(f"  `python -m xor_tf.train --help`: {seconds_text(cli['help_seconds'])}")
  names = ("import_tensorflow", "import_xor_tf", "first_step", "of_which_trace",
           "of_which_build_compile_run", "training", "rest_of_train", "outside_phases",
           "process_seconds")
  for prefix, what in (("", "empty cache"), ("warm_", "cache filled")):
    if startup.get(prefix + "first_step") is not None:
      lines.append(f"  a CLI-default deep run in a fresh process, {what}, phase by phase: " +
                   ", ".join(f"{k} {startup[prefix + k]:.3f} s" for k in names
                             if startup.get(prefix + k) is not None))
  if startup:
    lines.append("    (import_tensorflow as the CLI does it; first_step: train() until step 0 is "
                 "logged; outside_phases: interpreter start and exit)")

  lines += ["", "event files:"]
  if cli.get("event_bytes") is not None:
    lines.append(f"  default CLI run (deep): {cli['event_bytes']:,.0f} B")
  for row in report["rows"]:
    for arch in archs:
      size = row["archs"][arch]["event_bytes"]
      if size:
        lines.append(f"  {arch}, {row['label']}, {row['steps']:,} steps: {size:,.0f} B")

  lines.append("")
  for t in report["targets"]:
    value = t["measured"]
    shown = ("not measured" if value is None else
             f"{value:,.0f} B" if t["unit"] == "B" else ratio_text(value))
    lines.append(f"{t['status']}  {t['target']}: measured {shown}")
  for key, error in report["errors"].items():
    lines.append(f"ERROR {key}: {error}")
  lines.append(f"\nload average {m['load_start'][0]:.2f} at start, {m['load_end'][0]:.2f} at end "
               f"on {m['cpus']} CPUs; {m['elapsed_seconds']:.0f} s in all")
  return lines


def main(argv):
  del argv  # checked by parse_flags
  started_at = datetime.datetime.now().isoformat(timespec="seconds")
  started = time.perf_counter()
  load_start = os.getloadavg()
  version = git_version()
  skip = set(_SKIP.value)
  if "torch" not in skip and importlib.util.find_spec("torch") is None:
    progress("torch is not importable: PyTorch row left out")
    skip.add("torch")
  impls = [impl for impl in LABELS if impl not in skip]
  processes = [name for name in PROCESSES if name not in skip]
  archs = list(dict.fromkeys(_ARCHS.value))
  workdir = tempfile.mkdtemp(prefix="xor_tf_bench_")
  try:
    snapshot_package(workdir)
    # TensorFlow with its defaults, as the notebooks get it (the CLI's own settings are timed in
    # its process); xor_tf's compilation cache, if it has one, off, so every rep compiles.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["XOR_TF_XLA_CACHE"] = "0"
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(dir=workdir)
    try:  # without TensorFlow's native start-up notices, if the package offers that
      from xor_tf.quiet import native_stderr_silenced  # pylint: disable=g-import-not-at-top
    except ImportError:
      native_stderr_silenced = contextlib.nullcontext
    with native_stderr_silenced():
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      tf.config.list_logical_devices()
    # Every run builds a new TrainLoop, and TensorFlow counts the traces of a method across all
    # instances, so it would warn of "excessive retracing" though each run traces once.
    tf.get_logger().setLevel("ERROR")
    results, process_results, errors = measure(impls, archs, processes, workdir)
  finally:
    shutil.rmtree(workdir, ignore_errors=True)

  import numpy as np  # pylint: disable=g-import-not-at-top
  rows = summarise(results, archs)
  processes_out = process_summary(process_results)
  report = {
      "meta": {
          "started": started_at, "xor_tf_version": version, "archs": archs,
          "reps": _REPS.value, "process_reps": _PROCESS_REPS.value, "steps": _STEPS.value,
          "slow_steps": _SLOW_STEPS.value, "log_every": _LOG_EVERY.value,
          "optimizer": "sgd", "learning_rate": _LEARNING_RATE.value,
          "numpy_dtype": _NUMPY_DTYPE.value, "keras_histogram_freq": _KERAS_HISTOGRAM_FREQ.value,
          "python": platform.python_version(), "tensorflow": tf.__version__,
          "numpy": np.__version__, "cpus": os.cpu_count(), "load_start": load_start,
          "load_end": os.getloadavg(), "elapsed_seconds": time.perf_counter() - started,
      },
      "rows": rows, "processes": processes_out, "errors": errors,
      "targets": targets(rows, processes_out),
  }
  print("\n".join(format_report(report)))
  path = _JSON.value or os.path.join(tempfile.mkdtemp(prefix="xor_tf_bench_json_"), "bench.json")
  with open(path, "w") as f:
    json.dump(report, f, indent=1, default=str)
  print(f"JSON: {path}")


def parse_flags(argv):
  """absl's flag parsing, with one-line errors, and --help ending with status 0."""
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"bench.py: error: {e}")
  except SystemExit as e:
    # absl's --help, --helpshort and --helpfull print the help and exit 1; help is not an error.
    raise SystemExit(0 if e.code == 1 and any(a.startswith("--help") for a in argv) else e.code)
  if len(rest) > 1:
    sys.exit(f"bench.py: error: unexpected arguments {rest[1:]}; all options are --flags.")
  return rest


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
