"""Network-steps per second: the ensemble (many seeds, one compiled loop) against one net at a time.

  python scripts/ensemble_bench.py                 # 10,000 nets of 2-2-1 and of 2-10-10-10-1
  python scripts/ensemble_bench.py --models=1000 --reps=1 --cpu_devices=2

A network-step is one training step of one network. For each shape it prints the median over
--reps of: the ensemble on one device (xor_tf.ensemble.train), the ensemble split over
--cpu_devices logical CPUs with MirroredStrategy (if > 1), one compiled net at a time
(xor_tf.training.train without a writer) and a NumPy loop of one net with hand-written backprop,
then the issue's targets as PASS/FAIL lines. A benchmark, not a test: nothing is asserted, and
on a machine shared with other work the figures move by 2x from run to run.
"""

import os
import statistics
import sys
import time

from absl import app
from absl import flags
from absl import logging

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

_MODELS = flags.DEFINE_integer("models", 10_000, "Networks in each ensemble.", lower_bound=1,
                               upper_bound=10_000_000)
_REPS = flags.DEFINE_integer("reps", 3, "Repetitions of each measurement; the median is shown.",
                             lower_bound=1, upper_bound=1000)
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", 1, "Also time the ensemble split over this many logical CPUs (if > 1).",
    lower_bound=1, upper_bound=256)
_SECONDS = flags.DEFINE_float(
    "seconds", 1.0, "About how long each timed measurement runs (steps are sized to it).",
    lower_bound=0.001, upper_bound=3600)

# (shape, arch, the ensemble's network-steps/s target from the issue)
SHAPES = (("2-2-1", "nn", 50e6), ("2-10-10-10-1", "deep", 3e6))
LEARNING_RATE = 5.0  # the package default; plain SGD everywhere


def time_ensemble(arch, models, steps, strategy=None):
  """Network-steps/s of one ensemble.train, the compiling first chunk excluded."""
  from xor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  config = config_lib.Config(arch=arch, steps=steps, learning_rate=LEARNING_RATE)
  # A short first chunk pays for the compilation; the other two are timed.
  results = ensemble.train(config, range(models), strategy=strategy,
                           chunk_steps=max(1, steps // 3))
  return results.network_steps_per_second


def time_single(arch, steps):
  """Network-steps/s of one compiled net (training.train, no writer), compilation excluded."""
  from xor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from xor_tf import training  # pylint: disable=g-import-not-at-top
  config = config_lib.Config(arch=arch, steps=steps, learning_rate=LEARNING_RATE,
                             log_every=steps, image_every=0)
  return 1e6 / training.train(config).us_per_step


def time_numpy(arch, steps):
  """Network-steps/s of one sigmoid MLP in NumPy (float32), mean BCE, backprop by hand."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from xor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from xor_tf import data  # pylint: disable=g-import-not-at-top
  sizes = (2, *config_lib.Config(arch=arch).widths, 1)
  rng = np.random.default_rng(0)
  weights = [rng.uniform(-1, 1, (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
  biases = [np.zeros(b, np.float32) for b in sizes[1:]]
  x, y = data.INPUTS, data.LABELS
  lr = np.float32(LEARNING_RATE)
  start = time.perf_counter()
  for _ in range(steps):
    layers = [x]
    for w, b in zip(weights, biases):
      layers.append(1 / (1 + np.exp(-(layers[-1] @ w + b))))
    delta = (layers[-1] - y) / len(x)  # d(mean BCE)/d(logits) of the sigmoid output
    for i in reversed(range(len(weights))):
      grad_w, grad_b = layers[i].T @ delta, delta.sum(axis=0)
      if i:
        delta = (delta @ weights[i].T) * layers[i] * (1 - layers[i])
      weights[i] -= lr * grad_w
      biases[i] -= lr * grad_b
  return steps / (time.perf_counter() - start)


def sized(rate_guess, models=1):
  """Steps that take about --seconds at `rate_guess` network-steps/s, at least 30."""
  return max(30, int(_SECONDS.value * rate_guess / models))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # tf.distribute's notes on each reduction
  from xor_tf import quiet  # pylint: disable=g-import-not-at-top
  if _CPU_DEVICES.value > 1:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with quiet.native_stderr_silenced():
      from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
      ensemble.split_cpu(_CPU_DEVICES.value)
      strategy = ensemble.make_strategy("mirrored")
  else:
    quiet.import_tensorflow()
    strategy = None
  models = _MODELS.value
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print(f"ensemble_bench: {models} networks per ensemble, median of {_REPS.value}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at the start (a shared machine "
        "slows every figure)")
  print("| shape | implementation | network-steps/s | vs one compiled net | vs NumPy |")
  print("|---|---|---|---|---|")
  verdicts = []
  for shape, arch, target in SHAPES:
    rows = {}
    # Interleaved repetitions, so a burst of other work on the machine hits all of them alike.
    runs = {"ensemble": [], "mirrored": [], "single": [], "numpy": []}
    for _ in range(_REPS.value):
      runs["ensemble"].append(time_ensemble(arch, models, sized(target, models)))
      if strategy is not None:
        runs["mirrored"].append(time_ensemble(arch, models, sized(target, models), strategy))
      runs["single"].append(time_single(arch, sized(2e5 if arch == "nn" else 5e4)))
      runs["numpy"].append(time_numpy(arch, sized(3e4 if arch == "nn" else 1e4)))
    for name, values in runs.items():
      if values:
        rows[name] = statistics.median(values)
    labels = {"ensemble": f"ensemble of {models}, one device",
              "mirrored": f"ensemble of {models}, {_CPU_DEVICES.value} logical CPUs (mirrored)",
              "single": "one compiled net at a time (training.train)",
              "numpy": "NumPy, one net, backprop by hand"}
    for name, rate in rows.items():
      print(f"| {shape} | {labels[name]} | {rate / 1e6:.3g} M | {rate / rows['single']:.3g}x | "
            f"{rate / rows['numpy']:.3g}x |", flush=True)
    best = max(rows.get("ensemble", 0), rows.get("mirrored", 0))
    verdicts.append(f"{'PASS' if best >= target else 'FAIL'}: {shape} ensemble "
                    f"{best / 1e6:.3g} M network-steps/s (target >= {target / 1e6:g} M on a "
                    "quiet machine)")
    ratio = rows["ensemble"] / rows["single"]
    verdicts.append(f"{'PASS' if ratio >= 1 else 'FAIL'}: {shape} ensemble {ratio:.3g}x one "
                    "compiled net at a time (target: never slower, quiet or busy)")
  end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print("\n".join(verdicts))
  print(f"load average {load:.2f} at the start, {end:.2f} at the end")


if __name__ == "__main__":
  from xor_tf import cli  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=cli.flags_parser("ensemble_bench.py"))
