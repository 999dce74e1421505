"""One run from start to end: its run directory, training with summaries, and the printed report."""

import os
import sys

import tensorflow as tf

from xor_tf import data
from xor_tf import rundir
from xor_tf import training

PROGRESS_LINES = 10  # loss lines printed during training, as the notebooks print every N steps


def run(config, *, logdir, run_name=None, flag_lines=(), out=sys.stdout):
  """Trains `config` into a new run directory under `logdir` and prints what the notebooks print.

  Args:
    config: a checked `xor_tf.config.Config`.
    logdir: directory that holds run directories (created if missing).
    run_name: the run directory's name; default: named from the config plus a unique suffix.
    flag_lines: the absl flags of the run, saved as `<run dir>/flags.txt`.
    out: where the report goes.

  Returns:
    (result, run_dir): a `training.Result` and the path of the run directory.

  Raises:
    FileExistsError: if `run_name` names an existing run.
  """
  run_dir = rundir.create(logdir, run_name or rundir.default_name(config))
  rundir.write_flags(run_dir, flag_lines)
  print(f"xor_tf: {config.arch} ({config.shape}), {config.optimizer} learning_rate="
        f"{config.learning_rate:g}, loss={config.loss}, init={config.init}, seed={config.seed}, "
        f"{config.steps} steps", file=out, flush=True)
  writer = tf.summary.create_file_writer(run_dir)
  try:
    result = training.train(config, writer=writer, on_log=_progress_printer(config, out))
  finally:
    writer.close()
  print_report(result, run_dir, out)
  return result, run_dir


def _progress_printer(config, out):
  marks = [round(config.steps * i / PROGRESS_LINES) for i in range(PROGRESS_LINES + 1)]

  def on_log(step, loss, accuracy):
    if marks and step >= marks[0]:
      while marks and step >= marks[0]:
        marks.pop(0)
      print(f"step {step:>{len(str(config.steps))}}  loss {loss:.6f}  accuracy {accuracy:.2f}",
            file=out, flush=True)

  return on_log


def truth_table(probabilities):
  """The four XOR inputs with probability, predicted label and target, as Markdown table rows."""
  rows = ["| x1 | x2 | probability | label | target |", "|---|---|---|---|---|"]
  for (x1, x2), p, y in zip(data.INPUTS.astype(int), probabilities, data.LABELS.astype(int)[:, 0]):
    rows.append(f"| {x1} | {x2} | {p:.4f} | {int(p > 0.5)} | {y} |")
  return rows


def print_report(result, run_dir, out=sys.stdout):
  print("", file=out)
  for row in truth_table(result.probabilities):
    print(row, file=out)
  print(f"\nloss {result.loss:.6f}  accuracy {result.accuracy:.2f}", file=out)
  print(f"training: {result.trained_steps} steps in {result.train_seconds:.3f} s, "
        f"{result.us_per_step:.1f} µs/step", file=out)
  print(f"run directory: {run_dir}", file=out)
  print(f"open it: tensorboard --logdir {os.path.dirname(run_dir) or '.'}", file=out, flush=True)
