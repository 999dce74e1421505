"""What SummaryCallback costs beside keras.callbacks.TensorBoard, on keras-io-shaped models.

Each model is fit with no callback, the stock callback (histogram_freq=1: weight histograms
and the metrics at every epoch end), SummaryCallback (log_every = one epoch: metrics, weight
and activation histograms at step 0 and every epoch end) and both, in one process, the
configurations interleaved in a rotated order, each repeated --repeats times on a fresh model.
Printed per model, medians: the seconds spent inside each callback's hooks, SummaryCallback's
first log (set-up, probe and step 0, before the model's first step), the stock callback's first
log (its first epoch end, where it writes its first histograms), and the bytes of event
files each writes. The load average is printed beside every figure: the machine is shared.

    python scripts/callback_bench.py [--repeats=3] [--models=mnist,multi_io,bilstm,transfer]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

import callback_models as cm  # pylint: disable=g-import-not-at-top,wrong-import-position
from xor_tf.callbacks import SummaryCallback  # pylint: disable=g-import-not-at-top,wrong-import-position

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end")
CONFIGS = ("none", "stock", "ours", "both")

# Shapes of the keras-io examples (sequence lengths cut to keep the run short on a shared
# CPU): name -> (build, (x, y), batch size, epochs). Each epoch has 8 steps.
MODELS = {
    "mnist": (cm.mnist_convnet, lambda: cm.mnist_data(n=256), 32, 3),
    "multi_io": (lambda: cm.multi_io(vocab=10000, title_len=10, body_len=50, num_tags=12,
                                     departments=4, units=32, embed=64),
                 lambda: cm.multi_io_data(n=256, vocab=10000, title_len=10, body_len=50,
                                          num_tags=12, departments=4), 32, 3),
    "bilstm": (lambda: cm.bilstm(vocab=20000, units=64, embed=128),
               lambda: cm.bilstm_data(n=256, length=50, vocab=20000), 32, 3),
    "transfer": (lambda: cm.transfer(size=64, filters=32),
                 lambda: cm.transfer_data(n=256, size=64), 32, 3),
}


def timed(callback):
  """Wraps each hook of `callback` (on the instance) to add its seconds to callback.seconds."""
  callback.seconds, callback.calls, callback.names = 0.0, [], []
  for name in HOOKS:
    hook = getattr(callback, name)

    def wrapper(*args, _hook=hook, _name=name, **kwargs):
      start = time.perf_counter()
      try:
        return _hook(*args, **kwargs)
      finally:
        elapsed = time.perf_counter() - start
        callback.seconds += elapsed
        callback.calls.append(elapsed)
        callback.names.append(_name)
    setattr(callback, name, wrapper)
  return callback


def event_bytes(directory):
  return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(directory)
             for f in files if f.startswith("events.out.tfevents"))


def run(name, config, workdir):
  build, data, batch_size, epochs = MODELS[name]
  keras.utils.set_random_seed(0)
  model = build()
  x, y = data()
  steps_per_epoch = len(tf.nest.flatten(x)[0]) // batch_size
  ours = stock = None
  callbacks = []
  if config in ("stock", "both"):
    stock = timed(keras.callbacks.TensorBoard(os.path.join(workdir, "stock"), histogram_freq=1))
    callbacks.append(stock)
  if config in ("ours", "both"):
    ours = timed(SummaryCallback(os.path.join(workdir, "ours"), log_every=steps_per_epoch))
    callbacks.append(ours)
  start = time.perf_counter()
  model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks)
  result = {"fit": time.perf_counter() - start}
  if stock:
    result["stock"] = stock.seconds
    result["stock_bytes"] = event_bytes(os.path.join(workdir, "stock"))
    # Its first log: the first epoch end, where it writes its first histograms.
    result["stock_first"] = stock.calls[stock.names.index("on_epoch_end")]
  if ours:
    result["ours"] = ours.seconds
    # on_train_begin, then the first on_train_batch_begin, which writes step 0.
    result["ours_first"] = ours.calls[0] + ours.calls[2]
    result["ours_bytes"] = event_bytes(os.path.join(workdir, "ours"))
  result["steps"] = steps_per_epoch * epochs
  result["log_every"] = steps_per_epoch
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration")
  parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: "
                      + ", ".join(MODELS))
  args = parser.parse_args()
  names = args.models.split(",")
  unknown = [n for n in names if n not in MODELS]
  if unknown or args.repeats < 1:
    print(f"callback_bench: expected --models from {', '.join(MODELS)} and --repeats >= 1; "
          f"received --models={args.models} --repeats={args.repeats}", file=sys.stderr)
    sys.exit(2)
  print("| model | steps, log every | fit s (none) | stock s | ours s | ours / stock | both s "
        "| ours first log s | stock first log s | stock bytes | ours bytes | load (1 min) |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|")
  for name in names:
    results = {c: [] for c in CONFIGS}
    loads = []
    for rep in range(args.repeats):
      order = CONFIGS[rep % len(CONFIGS):] + CONFIGS[:rep % len(CONFIGS)]
      for config in order:
        with tempfile.TemporaryDirectory() as workdir:
          results[config].append(run(name, config, workdir))
        loads.append(os.getloadavg()[0])

    def median(config, key):
      return statistics.median(r[key] for r in results[config])

    both = statistics.median(r["stock"] + r["ours"] for r in results["both"])
    stock, ours = median("stock", "stock"), median("ours", "ours")
    first = results["ours"][0]
    print(f"| {name} | {first['steps']}, {first['log_every']} | {median('none', 'fit'):.2f} "
          f"| {stock:.3f} | {ours:.3f} | {ours / stock:.2f} | {both:.3f} "
          f"| {median('ours', 'ours_first'):.3f} | {median('stock', 'stock_first'):.3f} "
          f"| {median('stock', 'stock_bytes'):.0f} "
          f"| {median('ours', 'ours_bytes'):.0f} | {min(loads):.1f}-{max(loads):.1f} |",
          flush=True)
  print(f"median of {args.repeats}; load average (1 min) over each model's runs; "
        f"now {os.getloadavg()}")


if __name__ == "__main__":
  main()
