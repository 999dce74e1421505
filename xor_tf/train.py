"""Train one network on XOR and log it for TensorBoard: `python -m xor_tf.train --arch=deep`.

Flags are parsed and checked before TensorFlow is imported, so --help and flag errors answer
at once.
"""

import math
import os
import sys

from absl import app
from absl import logging
from absl import flags

from xor_tf import cli
from xor_tf import config as config_lib
from xor_tf import quiet
from xor_tf import rundir

_DEFAULTS = config_lib.Config()

_ARCH = flags.DEFINE_enum(
    "arch", _DEFAULTS.arch, config_lib.ARCHS,
    "Network to train. logistic: one sigmoid unit 2-1, the negative control that cannot learn "
    "XOR. concat: two logistic units reading the inputs, concatenated into a third (the "
    "lecture's NN1, NN2 -> NN3). nn: 2-2-1. deep: 2-10-10-10-1. keras: a keras.Sequential "
    "shaped like deep, trained by the same train step. All units are sigmoid.")
_HIDDEN = flags.DEFINE_string(
    "hidden", "",
    "Comma-separated hidden-layer widths, e.g. 3 for 2-3-1 or 4,2 for 2-4-2-1. Replaces the "
    "hidden layers of --arch=nn, deep (hand-built) or keras (keras.Sequential); not allowed "
    "with logistic or concat, whose shapes are fixed. Empty: the architecture's own.")
_STEPS = flags.DEFINE_integer(
    "steps", _DEFAULTS.steps, "Training steps; each is one update on all four XOR points.")
_LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", _DEFAULTS.learning_rate,
    "Learning rate of the optimizer; finite and > 0. The loss is the mean over the four points "
    "(the notebooks sum), so 4 here equals the notebooks' 1 with SGD. For adam try 0.05.")
_OPTIMIZER = flags.DEFINE_enum(
    "optimizer", _DEFAULTS.optimizer, config_lib.OPTIMIZERS,
    "adam (Keras' Adam update) or sgd (plain gradient descent, as in the notebooks).")
_LOSS = flags.DEFINE_enum(
    "loss", _DEFAULTS.loss, config_lib.LOSSES,
    "bce: binary cross-entropy computed stably from logits. mse: mean squared error of the "
    "probabilities (notebook 001).")
_INIT = flags.DEFINE_enum(
    "init", _DEFAULTS.init, config_lib.INITS,
    "Initial weights. glorot: Glorot-uniform weights, zero biases (Keras' default). normal: "
    "N(0, 1) weights and biases (the TensorFlow notebooks). uniform: uniform(-1, 1) weights, "
    "zero biases (NumPy notebook 000).")
_SEED = flags.DEFINE_integer(
    "seed", _DEFAULTS.seed, "Seed of the initial weights; same flags and seed give the same "
    "numbers on the same machine.")
_LOGDIR = flags.DEFINE_string(
    "logdir", "logs", "Directory that holds run directories; TensorBoard opens it.")
_RUN_NAME = flags.DEFINE_string(
    "run_name", None,
    "Name of this run's directory inside --logdir (no path separators). Default: the "
    "architecture, shape, optimizer, learning rate, loss and seed, a timestamp and a random "
    "suffix. An existing run directory is never overwritten.")
_LOG_EVERY = flags.DEFINE_integer(
    "log_every", _DEFAULTS.log_every,
    "Write summaries (loss, accuracy, histograms) at step 0, every this many steps, and at "
    "the last step.")

_IMAGE_EVERY = flags.DEFINE_integer(
    "image_every", _DEFAULTS.image_every,
    "Draw pictures (the decision boundary over the input plane, and one heatmap per hidden "
    "neuron) at the logging steps that are multiples of this, and at the last step; 0: none. "
    "Each picture step costs about 2-3 ms, so every logging step (100) slows training ~5x.")
_DIAGNOSTICS = flags.DEFINE_boolean(
    "diagnostics", _DEFAULTS.diagnostics,
    "Also log, at every logging step: a histogram of each weight's gradient and each layer's "
    "gradient norm (the vanishing gradient of deep sigmoid stacks shows there), and notebook "
    "002's count of how often each weight's update changed direction since the last logging "
    "step (a histogram per layer and the total). Counted inside the compiled loop.")
_GRADIENTS = flags.DEFINE_enum(
    "gradients", _DEFAULTS.gradients, config_lib.GRADIENTS,
    "tape: gradients by tf.GradientTape. manual: backpropagation written out by hand "
    "(xor_tf/backprop.py, the notebooks' equations); hand-built architectures only.")
_TRAINER = flags.DEFINE_enum(
    "trainer", _DEFAULTS.trainer, config_lib.TRAINERS,
    "step: xor_tf's shared compiled train step. fit: keras model.fit with "
    "xor_tf.callbacks.SummaryCallback, for --arch=keras only, to compare the two side by side "
    "in TensorBoard. With fit each step is one batch of the four XOR points and one Keras "
    "epoch is --log_every steps (the last may be shorter), run as one compiled execution "
    "(steps_per_execution=--log_every); the loss logged at a step is Keras' mean over the "
    "epoch that ends there. fit runs have no checkpoints.")
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

# Flags saved in <run dir>/flags.txt; --run_name is left out so a repeat gets a new directory.
_SAVED_FLAGS = (_ARCH, _HIDDEN, _STEPS, _LEARNING_RATE, _OPTIMIZER, _LOSS, _INIT, _SEED,
                _LOGDIR, _LOG_EVERY, _IMAGE_EVERY, _DIAGNOSTICS, _GRADIENTS, _TRAINER,
                _CHECKPOINT_EVERY)

flags.register_validator(
    "learning_rate", lambda v: v is not None and math.isfinite(v) and v > 0,
    message="expected a finite number > 0")
flags.register_validator("steps", lambda v: v is not None and v > 0,
                         message="expected an integer > 0")
flags.register_validator("image_every", lambda v: v is not None and v >= 0,
                         message="expected an integer >= 0")
flags.register_validator("seed", lambda v: v is not None and v >= 0,
                         message="expected an integer >= 0")
flags.register_validator("checkpoint_every", lambda v: v is not None and v > 0,
                         message="expected an integer > 0")
flags.register_validator("log_every", lambda v: v is not None and v > 0,
                         message="expected an integer > 0")


def _hidden_ok(v):
  config_lib.parse_hidden(v)
  return True


def _run_name_ok(v):
  config_lib.check_run_name(v)
  return True


def _flags_fit_together(values):
  config_lib.check(config_lib.Config(arch=values["arch"], gradients=values["gradients"],
                                     trainer=values["trainer"],
                                     hidden=config_lib.parse_hidden(values["hidden"])))
  return True


def _raising(check):
  def validator(value):
    try:
      return check(value)
    except ValueError as e:
      raise flags.ValidationError(str(e).rstrip(".")) from None
  return validator


flags.register_validator("hidden", _raising(_hidden_ok))
flags.register_validator("run_name", _raising(_run_name_ok))
flags.register_multi_flags_validator(["arch", "hidden", "gradients", "trainer"],
                                     _raising(_flags_fit_together))


def config_from_flags():
  return config_lib.check(config_lib.Config(
      arch=_ARCH.value, hidden=config_lib.parse_hidden(_HIDDEN.value), steps=_STEPS.value,
      learning_rate=_LEARNING_RATE.value, optimizer=_OPTIMIZER.value, loss=_LOSS.value,
      init=_INIT.value, seed=_SEED.value, log_every=_LOG_EVERY.value,
      image_every=_IMAGE_EVERY.value, diagnostics=_DIAGNOSTICS.value,
      gradients=_GRADIENTS.value, trainer=_TRAINER.value))


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
                 flag_lines=[f"--{f.name}={f.value}" for f in _SAVED_FLAGS])
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
