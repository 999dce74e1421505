"""Train one network on XOR and log it for TensorBoard: `python -m xor_tf.train --arch=deep`.

Flags are parsed and checked before TensorFlow is imported, so --help and flag errors answer
at once.

The module is also callable: `xor_tf.train(arch="deep", seed=3)` is `xor_tf.api.train`, the
same flags as keyword arguments, for Python and notebooks.
"""

import inspect
import os
import shutil
import signal
import sys
import threading
import time
import types

from absl import app
from absl import logging
from absl import flags

from xor_tf import api
from xor_tf import cli
from xor_tf import config as config_lib
from xor_tf import quiet
from xor_tf import rundir

# Every setting's flag, declared once with its field in xor_tf.config.Config.
_SETTINGS = config_lib.define_train_flags(flags)
flags.adopt_module_key_flags(config_lib)  # --help lists them with this module's own
_STEPS = _SETTINGS["steps"]
_LOGDIR = flags.DEFINE_string(
    "logdir", "logs", "Directory that holds run directories; TensorBoard opens it.")
_RUN_NAME = flags.DEFINE_string(
    "run_name", None,
    "Name of this run's directory inside --logdir (no path separators). Default: the "
    "architecture, shape, activation, optimizer, learning rate, loss, init and seed, a "
    "timestamp and a random suffix. An existing run directory is never overwritten.")
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    "checkpoint_every", 1000,
    "Save a checkpoint (weights, optimizer state, step) in <run dir>/checkpoints every this "
    "many steps, at the end, and when Ctrl-C or SIGTERM stops the run.")
_RESUME = flags.DEFINE_string(
    "resume", None,
    "A run directory to continue from its latest checkpoint, with the flags it was started "
    "with; --steps (if given) sets the new total. Its summaries continue in the same "
    "directory, each logging step written once.")
_LANDSCAPE = flags.DEFINE_boolean(
    "landscape", False,
    "Also draw the loss landscape of the run (xor_tf.analyze): the loss along the straight line "
    "from the initial to the final weights, and a slice around the final weights along their "
    "most negative and most positive curvature; <run dir>/landscape.png and TensorBoard.")
_EXPORT = flags.DEFINE_boolean(
    "export", False,
    "Also write a SavedModel to <run dir>/saved_model; `python -m xor_tf.predict "
    "--model=<run dir>/saved_model 0,1 1,1` uses it.")

flags.register_validator("checkpoint_every",
                         lambda v: v is not None and 0 < v <= config_lib.MAX_STEPS,
                         message=f"expected an integer from 1 to {config_lib.MAX_STEPS:.0e}")


def _raising(check):
  def validator(value):
    try:
      return check(value)
    except ValueError as e:
      raise flags.ValidationError(str(e).rstrip(".")) from None
  return validator


def _setting_ok(name):
  """The check declared with the setting, as an absl validator of its flag alone."""
  predicate, expected = config_lib.FIELDS[name].metadata["check"]
  def check(value):
    if value is not None and not predicate(value):
      raise ValueError(f"expected {expected}")
    return True
  return check


def _run_name_ok(v):
  config_lib.check_run_name(v)
  rundir.check_name(v)
  return True


for _name, _field in config_lib.FIELDS.items():
  if _field.metadata.get("check") and _name in _SETTINGS:
    flags.register_validator(_name, _raising(_setting_ok(_name)))
flags.register_validator("hidden", _raising(lambda v: bool(config_lib.parse_hidden(v)) or True))
flags.register_validator("run_name", _raising(_run_name_ok))


def config_from_flags():
  """The run's Config; settings are checked together here (ValueError, one line)."""
  return config_lib.config_from_values({name: h.value for name, h in _SETTINGS.items()})


def fail(message, status=2):
  cli.fail("xor_tf.train", message, status)


parse_flags = cli.flags_parser("xor_tf.train")


# What --resume may be given with; any other flag must agree with the run's flags.txt.
_RESUME_MAY_SET = ("resume", "steps", "export", "landscape", "flagfile")


def resumed_flags(run_dir, argv):
  """Re-parses the flags of the run in `run_dir`, keeping --steps from `argv` if it was given.

  Raises:
    ValueError: if run_dir is not an xor_tf run directory, its flags.txt cannot be parsed, or
      a flag given with --resume contradicts it.
  """
  flagfile = os.path.join(run_dir, rundir.FLAGS_FILE)
  if not os.path.isfile(flagfile):
    raise ValueError(f"--resume expects an xor_tf run directory holding {rundir.FLAGS_FILE}; "
                     f"received {run_dir!r}.")
  given = {f.name: f.value for f in (*_SETTINGS.values(), _LOGDIR, _CHECKPOINT_EVERY, _RUN_NAME)
           if f.present and f.name not in _RESUME_MAY_SET}
  kept = [f"--resume={run_dir}", f"--export={_EXPORT.value}",
          f"--landscape={_LANDSCAPE.value}"]
  if flags.FLAGS["steps"].present:
    kept.append(f"--steps={_STEPS.value}")
  flags.FLAGS.unparse_flags()
  try:
    rest = flags.FLAGS([argv[0], f"--flagfile={flagfile}", *kept])
  except (flags.Error, UnicodeDecodeError, OSError) as e:
    flags.FLAGS.mark_as_parsed()  # absl's own exit path reads flags
    reason = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
    raise ValueError(f"--resume expects {flagfile!r} to hold the flags xor_tf.train saved; "
                     f"reading it failed: {reason}") from None
  if len(rest) > 1:
    raise ValueError(f"--resume expects {flagfile!r} to hold only --flags; received "
                     f"{rest[1:]!r} in it.")
  for name, value in given.items():
    saved = (os.path.basename(os.path.normpath(run_dir)) if name == "run_name"
             else flags.FLAGS[name].value)
    if value != saved:
      raise ValueError(
          f"--resume continues a run with the flags it was started with; received --{name}="
          f"{value}, but the run has --{name}={saved} (only --steps, --export and --landscape may be given "
          "with --resume; start a new run to change the others).")


_LOCKS = []  # descriptors of the locked run directory, held until the process exits


# If a stop has not ended the process this long after its signal (a KeyboardInterrupt that
# landed inside Keras or TensorFlow and was lost there), the process ends anyway, in one line.
STOP_GRACE_SECONDS = 20


def _interrupt(signum, frame):  # until training installs its own: stop, report, exit 128+N
  del frame
  _interrupt.signum = signum
  if not _interrupt.seen:
    _interrupt.seen = True
    threading.Thread(target=_stop_anyway, args=(signum,), daemon=True).start()
  raise KeyboardInterrupt


def _stop_anyway(signum):
  time.sleep(STOP_GRACE_SECONDS)
  sys.stderr.write(f"xor_tf.train: error: stopped by {signal.Signals(signum).name}; the run did "
                   f"not stop within {STOP_GRACE_SECONDS} s of it, so it ended there (what was "
                   "written is kept).\n")
  sys.stderr.flush()
  os._exit(128 + signum)  # pylint: disable=protected-access


_interrupt.signum = signal.SIGINT
# Whether a signal came: a KeyboardInterrupt raised inside TensorFlow or Keras (say while a
# function traces) can surface as another error from the state it left half-built.
_interrupt.seen = False


def _status_of(error):
  import errno  # pylint: disable=g-import-not-at-top
  return 1 if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EIO) else 2


def _create_run_dir(config, flag_lines):
  """Makes, locks and fills a new run directory before TensorFlow is imported; returns it."""
  logdir, name = _LOGDIR.value, _RUN_NAME.value or rundir.default_name(config)
  try:
    run_dir = rundir.create(logdir, name)
  except FileExistsError as e:  # another process took the name since the check
    fail(rundir.exists_message(e.filename))
  except OSError as e:
    fail(f"--logdir expects a directory where a run directory can be made; received {logdir!r}, "
         f"and making {os.path.join(logdir, name)!r} failed: {cli.one_line(e)}.",
         status=_status_of(e))
  try:
    _LOCKS.append(rundir.lock(run_dir))
    rundir.write_flags(run_dir, flag_lines)
  except BaseException as e:  # a full disk, or a Ctrl-C: no run directory without flags.txt
    shutil.rmtree(run_dir, ignore_errors=True)
    if not isinstance(e, OSError):
      raise
    fail(f"expected room to write the run directory {run_dir!r}; writing it failed: "
         f"{cli.one_line(e)} (nothing was kept).", status=_status_of(e))
  return run_dir


def _ended_early(config, run_dir, resuming, what, status):
  """Says how the run ended and what is kept; a new run with no checkpoint is removed whole."""
  checkpoint = rundir.latest_checkpoint(run_dir) if config.trainer == "step" else None
  if checkpoint:
    step = checkpoint.rsplit("-", 1)[-1]
    # The command ends the line, with no full stop, so that it can be pasted back as it is.
    kept = f"the checkpoint of step {step} is kept; continue it: {rundir.resume_command(run_dir)}"
  elif config.trainer == "fit":
    kept = f"the summaries written so far are kept in {run_dir!r} (fit runs keep no checkpoints)."
  elif resuming:
    kept = f"{run_dir!r} keeps what it held."
  else:
    shutil.rmtree(run_dir, ignore_errors=True)
    kept = f"no checkpoint had been saved, so {run_dir!r} was removed."
  fail(f"{what}; {kept}", status=status)


def saved_flag_lines(config):
  """The flags saved in <run dir>/flags.txt: the settings as used, the logdir and checkpoints.

  --run_name is left out so that a repeat gets a new directory.
  """
  return config_lib.flag_lines(config) + [f"--logdir={_LOGDIR.value}",
                                           f"--checkpoint_every={_CHECKPOINT_EVERY.value}"]


def main(argv):
  for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, _interrupt)
  resuming = bool(_RESUME.value)
  try:
    if resuming:
      resumed_flags(_RESUME.value, argv)
    config = config_from_flags()
    if resuming:
      _LOCKS.append(rundir.lock(_RESUME.value))
    else:
      rundir.check_logdir(_LOGDIR.value)
      if _RUN_NAME.value:
        rundir.check_new(_LOGDIR.value, _RUN_NAME.value)
  except ValueError as e:
    fail(str(e))
  except OSError as e:
    fail(f"--resume expects a readable run directory; received {_RESUME.value!r}: "
         f"{cli.one_line(e)}.")
  except KeyboardInterrupt:
    fail(f"stopped by {signal.Signals(_interrupt.signum).name} before anything was written.",
         status=128 + _interrupt.signum)
  flag_lines = saved_flag_lines(config)
  run_dir = _RESUME.value
  try:
    if not resuming:
      run_dir = None
      run_dir = _create_run_dir(config, flag_lines)
    status = _train(config, run_dir, resuming, flag_lines)
  except BaseException as e:  # pylint: disable=broad-except
    # A Ctrl-C, or what it left behind when it landed inside TensorFlow; fail()'s exit passes.
    if isinstance(e, SystemExit) or not (isinstance(e, KeyboardInterrupt) or _interrupt.seen):
      raise
    if run_dir is None:  # between making the directory and writing flags.txt: nothing to keep
      fail(f"stopped by {signal.Signals(_interrupt.signum).name} before anything was written.",
           status=128 + _interrupt.signum)
    name = signal.Signals(_interrupt.signum).name
    _ended_early(config, run_dir, resuming, f"stopped by {name}", 128 + _interrupt.signum)
  # Everything is written and closed (events, checkpoints, SavedModel, the report), so skip
  # TensorFlow's interpreter teardown, which takes ~0.5 s of a run that trains in 0.05 s.
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access


def _train(config, run_dir, resuming, flag_lines):
  """Trains and returns the exit status; failures end the process with one line."""
  logging.set_verbosity(logging.WARNING)  # TensorFlow's saver notes are not for learners
  tf = quiet.import_tensorflow()
  from xor_tf import experiment  # pylint: disable=g-import-not-at-top (TensorFlow: after checks)
  from xor_tf import training  # pylint: disable=g-import-not-at-top

  options = dict(checkpoint_every=_CHECKPOINT_EVERY.value, export=_EXPORT.value,
                 landscape=_LANDSCAPE.value,
                 flag_lines=flag_lines)
  try:
    if resuming:
      result = experiment.resume(config, run_dir, **options)
    else:
      result = experiment.start(config, run_dir, **options)
  except experiment.ResumeError as e:
    fail(str(e))
  except training.Diverged as e:
    checkpoint = getattr(e, "checkpoint", None)
    kept = (f"the last finite checkpoint, {os.path.basename(checkpoint)}, is kept in the run "
            "directory" if checkpoint else "no checkpoint had been saved before it")
    fail(f"the loss became non-finite at step {e.step} with --learning_rate="
         f"{config.learning_rate:g}; expected a finite loss, so try a smaller --learning_rate "
         f"({kept}).", status=3)
  except experiment.WriteFailed as e:
    _ended_early(config, run_dir, resuming,
                 f"expected the summaries to reach the disk, but {e}; training stopped", 1)
  except (OSError, MemoryError, tf.errors.OpError) as e:
    _ended_early(config, run_dir, resuming,
                 f"expected room to write the run, but writing it failed: {cli.one_line(e)}", 1)
  # 130 for Ctrl-C, 143 for SIGTERM, as shells report them.
  return 0 if result.signal is None else 128 + result.signal


class _CallableModule(types.ModuleType):
  """This module, callable as `xor_tf.api.train`: `xor_tf.train(...)` whatever was imported."""

  def __call__(self, *args, **kwargs):
    return api.train(*args, **kwargs)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
else:
  sys.modules[__name__].__class__ = _CallableModule
  __signature__ = inspect.signature(api.train)
