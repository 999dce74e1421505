"""Train one network on XOR and log it for TensorBoard: `python -m xor_tf.train --arch=deep`.

Flags are parsed and checked before TensorFlow is imported, so --help and flag errors answer
at once.
"""

import os
import sys

from absl import app
from absl import logging
from absl import flags

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
_EXPORT = flags.DEFINE_boolean(
    "export", False,
    "Also write a SavedModel to <run dir>/saved_model; `python -m xor_tf.predict "
    "--model=<run dir>/saved_model 0,1 1,1` uses it.")

flags.register_validator("checkpoint_every", lambda v: v is not None and v > 0,
                         message="expected an integer > 0")


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


def resumed_flags(run_dir, argv):
  """Re-parses the flags of the run in `run_dir`, keeping --steps from `argv` if it was given.

  Raises:
    ValueError: if run_dir is not an xor_tf run directory.
  """
  flagfile = os.path.join(run_dir, rundir.FLAGS_FILE)
  if not os.path.isfile(flagfile):
    raise ValueError(f"--resume expects an xor_tf run directory holding {rundir.FLAGS_FILE}; "
                     f"received {run_dir!r}.")
  given = [f"--resume={run_dir}", f"--export={_EXPORT.value}"]
  if flags.FLAGS["steps"].present:
    given.append(f"--steps={_STEPS.value}")
  flags.FLAGS.unparse_flags()
  parse_flags([argv[0], f"--flagfile={flagfile}", *given])


def saved_flag_lines(config):
  """The flags saved in <run dir>/flags.txt: the settings as used, the logdir and checkpoints.

  --run_name is left out so that a repeat gets a new directory.
  """
  return config_lib.flag_lines(config) + [f"--logdir={_LOGDIR.value}",
                                           f"--checkpoint_every={_CHECKPOINT_EVERY.value}"]


def main(argv):
  try:
    if _RESUME.value:
      resumed_flags(_RESUME.value, argv)
    config = config_from_flags()
    if not _RESUME.value:
      rundir.check_logdir(_LOGDIR.value)
      if _RUN_NAME.value:
        rundir.check_new(_LOGDIR.value, _RUN_NAME.value)
  except ValueError as e:
    fail(str(e))
  logging.set_verbosity(logging.WARNING)  # TensorFlow's saver notes are not for learners
  quiet.import_tensorflow()
  from xor_tf import experiment  # pylint: disable=g-import-not-at-top (TensorFlow: after checks)
  from xor_tf import training  # pylint: disable=g-import-not-at-top

  options = dict(checkpoint_every=_CHECKPOINT_EVERY.value, export=_EXPORT.value,
                 flag_lines=saved_flag_lines(config))
  try:
    if _RESUME.value:
      result = experiment.resume(config, _RESUME.value, **options)
    else:
      result, _ = experiment.run(config, logdir=_LOGDIR.value, run_name=_RUN_NAME.value,
                                 **options)
  except FileExistsError as e:  # another process took the name since the check above
    fail(rundir.exists_message(e.filename))
  except experiment.ResumeError as e:
    fail(str(e))
  except training.Diverged as e:
    fail(f"the loss became non-finite at step {e.step} with --learning_rate="
         f"{config.learning_rate:g}; expected a finite loss, so try a smaller --learning_rate "
         "(the last finite checkpoint is kept in the run directory).", status=3)
  # 130 for Ctrl-C, 143 for SIGTERM, as shells report them.
  status = 0 if result.signal is None else 128 + result.signal
  # Everything is written and closed (events, checkpoints, SavedModel, the report), so skip
  # TensorFlow's interpreter teardown, which takes ~0.5 s of a run that trains in 0.05 s.
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
