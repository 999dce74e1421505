"""One run from start to end: its run directory, training with summaries and checkpoints, the report."""

import contextlib
import os
import shutil
import signal
import sys

import tensorflow as tf

from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import events
from xor_tf import layout
from xor_tf import pictures
from xor_tf import rundir
from xor_tf import summaries
from xor_tf import tags
from xor_tf import training

PROGRESS_LINES = 10  # loss lines printed during training, as the notebooks print every N steps
CHECKPOINTS = rundir.CHECKPOINTS  # inside the run directory
SAVED_MODEL = "saved_model"  # inside the run directory
DECISION_BOUNDARY = "decision_boundary.png"  # inside the run directory: the final picture
HIDDEN_SPACE = "hidden_space.png"  # beside it: the last hidden layer's view (no hidden layer: none)


class ResumeError(ValueError):
  """--resume named no xor_tf run, an unreadable checkpoint, or a run already at --steps."""


WriteFailed = events.WriteFailed


def run(config, *, logdir, run_name=None, flag_lines=(), out=sys.stdout, checkpoint_every=None,
        export=False, landscape=False):
  """Trains `config` into a new run directory under `logdir` and prints what the notebooks print.

  Args:
    config: a checked `xor_tf.config.Config`.
    logdir: directory that holds run directories (created if missing).
    run_name: the run directory's name; default: named from the config plus a unique suffix.
    flag_lines: the absl flags of the run, saved as `<run dir>/flags.txt`.
    out: where the report goes.
    checkpoint_every: save a checkpoint every this many steps (and always at the end).
    export: also write a SavedModel to `<run dir>/saved_model`.
    landscape: also draw the loss landscape of the run (`analyze.write_landscape`) into
      `<run dir>/landscape.png` and TensorBoard.

  Returns:
    (result, run_dir): a `training.Result` and the path of the run directory.

  Raises:
    FileExistsError: if `run_name` names an existing run.
    training.Diverged: if the loss became non-finite (the run directory keeps what was written).
  """
  run_dir = rundir.create(logdir, run_name or rundir.default_name(config))
  rundir.write_flags(run_dir, flag_lines)
  return start(config, run_dir, out=out, checkpoint_every=checkpoint_every, export=export,
               flag_lines=flag_lines, landscape=landscape), run_dir


def start(config, run_dir, *, flag_lines=(), out=sys.stdout, checkpoint_every=None,
          export=False, landscape=False):
  """Trains `config` in `run_dir`, a new run directory (`rundir.create`); as `run`.

  Raises:
    training.Diverged: if the loss became non-finite; its `checkpoint` is the newest
      checkpoint (all finite), or None.
    WriteFailed: if summaries did not reach the event file; the checkpoints stay usable.
  """
  return _train(config, run_dir, out=out, checkpoint_every=checkpoint_every, export=export,
                flag_lines=flag_lines, landscape=landscape)


def resume(config, run_dir, *, flag_lines=(), out=sys.stdout, checkpoint_every=None,
           export=False, landscape=False):
  """Continues the run in `run_dir` from its latest checkpoint up to config.steps steps.

  Summaries the run's event files already hold are not written again, so every logging step
  appears once. The run's flags.txt is rewritten with `flag_lines` (the new --steps), so that
  repeating it trains straight to where the resumed run ends. Returns a `training.Result`.

  Raises:
    ResumeError: if run_dir has no readable checkpoint of this configuration.
  """
  if config.trainer == "fit":
    raise ResumeError(f"--resume expects a run of --trainer=step; received {run_dir!r}, a "
                      "--trainer=fit run, which keeps no checkpoints.")
  if not tf.io.gfile.isdir(os.path.join(run_dir, CHECKPOINTS)):
    raise ResumeError(f"--resume expects a run directory with {CHECKPOINTS}/; received {run_dir!r}.")
  written = {tag: max(step for step, _ in entries)
             for tag, entries in events.read(run_dir).items() if entries}
  return _train(config, run_dir, out=out, checkpoint_every=checkpoint_every, export=export,
                resume=True, written_through=written, flag_lines=flag_lines, landscape=landscape)


def _train(config, run_dir, *, out, checkpoint_every, export, resume=False, written_through=None,
           flag_lines=(), landscape=False):
  if config.trainer == "fit":
    return _train_with_fit(config, run_dir, out=out, export=export, flag_lines=flag_lines,
                           landscape=landscape)
  loop = training.create(config)
  manager = tf.train.CheckpointManager(loop.checkpoint(), os.path.join(run_dir, CHECKPOINTS),
                                       max_to_keep=3)
  if resume:  # everything is checked before anything is written
    _restore(loop, manager, run_dir)
    at = int(loop.step.numpy())
    if at >= config.steps:
      raise ResumeError(f"--resume of {run_dir!r}: the run is at step {at} already; expected "
                        f"--steps greater than {at}, received --steps={config.steps}.")
    rundir.write_flags(run_dir, flag_lines)
    print(f"xor_tf: resuming {run_dir} at step {at}", file=out)
  check = events.WriteCheck(run_dir)
  writer = loop.writer = create_writer(run_dir)
  try:
    if not resume:  # once per run, before its first steps: seen while it trains
      with writer.as_default():
        layout.write(config.diagnostics)
    with stop_on_signals() as stop:  # from the header on: a Ctrl-C while compiling is handled
      _print_header(config, out)
      try:
        result = training.train(config, writer=writer, on_log=_progress_printer(config, out),
                                loop=loop, checkpoints=manager, checkpoint_every=checkpoint_every,
                                should_stop=lambda: stop.signal is not None,
                                written_through=written_through, check_written=check)
      except training.Diverged as e:
        e.checkpoint = manager.latest_checkpoint
        raise
    result.signal = stop.signal
    with writer.as_default():
      if not resume:  # the same on resume: TensorBoard shows one graph and one list of flags
        tf.summary.graph(loop.step_graph())
      # The loop wrote the truth table of a picture step; any other last step gets it here.
      drew = (training.is_picture_step(result.step, config)
              and int(loop.last_written.numpy()) == result.step)
      _write_text(() if resume else flag_lines, None if drew else result)
    writer.flush()
    check(-1 if drew else result.step)  # whole records; the last the truth table, if here
  finally:
    writer.close()
  _finish(result, loop.net, run_dir, out, export, config if landscape else None)
  if result.interrupted:
    saved = (manager.latest_checkpoint or "").endswith(f"-{result.step}")
    print(f"stopped by {signal.Signals(stop.signal).name} at step {result.step}; "
          f"{'checkpoint saved' if saved else 'no checkpoint saved'}."
          f"\ncontinue it: {resume_command(run_dir)}", file=out, flush=True)
  return result


resume_command = rundir.resume_command


def _train_with_fit(config, run_dir, *, out, export, flag_lines, landscape=False):
  from xor_tf import fit  # pylint: disable=g-import-not-at-top (Keras' fit only when asked)
  _print_header(config, out)
  writer = create_writer(run_dir)
  try:
    with writer.as_default():
      layout.write(config.diagnostics)
    result, net = fit.train_with_fit(config, writer=writer, on_log=_progress_printer(config, out),
                                     return_net=True)
    with writer.as_default():
      # fit wrote the truth table of a picture step it logged; any other last step gets it here.
      drew = (training.is_picture_step(result.step, config)
              and result.history["step"][-1:] == [result.step])
      _write_text(flag_lines, None if drew else result)
  finally:
    writer.close()
  _finish(result, net, run_dir, out, export, config if landscape else None)
  return result


def _print_header(config, out):
  print(f"xor_tf: {' '.join(config_lib.name_parts(config))}, {config.steps} steps, "
        f"trainer={config.trainer}, gradients={config.gradients}", file=out, flush=True)


def create_writer(run_dir):
  """The run's summary writer. A logging step writes one event per tag and then flushes them
  (`training.TrainLoop`), so the queue holds a whole step: no flush in the middle of one."""
  return tf.summary.create_file_writer(run_dir, max_queue=1000, flush_millis=600_000)


def _write_text(flag_lines, result=None):
  """The run's flags and, if `result` is given, its final truth table, as Markdown for
  TensorBoard's Text dashboard."""
  if flag_lines:
    tf.summary.text(tags.FLAGS, "\n".join(f"    {line}" for line in flag_lines), step=0)
  if result is not None:
    summaries.write_truth_table(result.probabilities, result.step)


def _finish(result, net, run_dir, out, export, landscape_of=None):
  """The run's outputs after training: SavedModel, pictures, report.

  landscape_of: the run's config, to also draw its loss landscape, or None.
  """
  if export and not result.interrupted:
    from xor_tf import export as export_lib  # pylint: disable=g-import-not-at-top
    saved_model = os.path.join(run_dir, SAVED_MODEL)
    try:
      export_lib.save(net, saved_model)
    except BaseException:  # no half-written SavedModel for xor_tf.predict to stumble on
      shutil.rmtree(saved_model, ignore_errors=True)
      raise
  picture = os.path.join(run_dir, DECISION_BOUNDARY)
  final = pictures.draw(net.apply_columns, {k: tf.convert_to_tensor(v) for k, v in
                                            net.params.items()},
                        value_range=net.activation.picture_range)
  rundir.write_atomically(picture, pictures.png(final[tags.OUTPUT], scale=2))
  if tags.HIDDEN_SPACE in final:
    rundir.write_atomically(os.path.join(run_dir, HIDDEN_SPACE),
                            pictures.png(final[tags.HIDDEN_SPACE], scale=2))
  drawn = _landscape(landscape_of, net, run_dir) if landscape_of is not None else None
  print_report(result, run_dir, out)
  print(f"decision boundary: {picture}", file=out, flush=True)
  if drawn:
    print(f"loss landscape: {drawn}", file=out, flush=True)


def _landscape(config, net, run_dir):
  """`analyze.write_landscape` of this run: from the seed's initial weights to the final ones.

  The keras model has `deep`'s parameters under the same names, so its landscape is drawn on
  the hand-built network of its shape.
  """
  import dataclasses  # pylint: disable=g-import-not-at-top
  from xor_tf import analyze  # pylint: disable=g-import-not-at-top
  from xor_tf import models  # pylint: disable=g-import-not-at-top
  start = models.build(dataclasses.replace(config, arch="deep", hidden=config.widths,
                                           trainer="step") if config.arch == "keras" else config)
  initial = {k: v.numpy() for k, v in start.params.items()}
  final = {k: v.numpy() for k, v in net.params.items()}
  return analyze.write_landscape(run_dir, start, initial, final, config.loss)


def _restore(loop, manager, run_dir):
  if manager.latest_checkpoint is None:
    raise ResumeError(f"--resume expects a run directory with a checkpoint; received {run_dir!r}, "
                  f"whose {CHECKPOINTS}/ holds none.")
  try:
    loop.checkpoint().restore(manager.latest_checkpoint).assert_existing_objects_matched()
  except Exception as e:  # pylint: disable=broad-except (a corrupt file raises many kinds)
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ResumeError(f"--resume expects a readable checkpoint of this run; "
                  f"{manager.latest_checkpoint!r} could not be restored: {first_line}") from None


class _Stop:
  signal = None


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGINT, signal.SIGTERM)):
  """Turns the first Ctrl-C or SIGTERM into a request to stop at the next chunk boundary.

  A second one interrupts at once, as usual.
  """
  stop = _Stop()
  previous = {}

  def handler(signum, frame):
    if stop.signal is not None:
      previous_handler = previous.get(signum)
      if callable(previous_handler):
        previous_handler(signum, frame)
      raise KeyboardInterrupt
    stop.signal = signum

  for s in signals:
    previous[s] = signal.signal(s, handler)
  try:
    yield stop
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


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
  if result.trained_steps:
    print(f"training: {result.trained_steps} steps in {result.train_seconds:.3f} s, "
          f"{result.us_per_step:.1f} µs/step", file=out)
  print(f"run directory: {run_dir}", file=out)
  print(rundir.open_command(os.path.dirname(run_dir) or "."), file=out, flush=True)
