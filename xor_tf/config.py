"""What a run is: the `Config` of plain values and the checks on it (no TensorFlow here)."""

import dataclasses
import math
import re

# The architecture of each name: its hidden widths, or None where the shape is fixed.
ARCHS = ("logistic", "concat", "nn", "deep", "keras")
DEFAULT_HIDDEN = {"nn": (2,), "deep": (10, 10, 10), "keras": (10, 10, 10)}
OPTIMIZERS = ("adam", "sgd")
LOSSES = ("bce", "mse")
INITS = ("glorot", "normal", "uniform")
GRADIENTS = ("tape", "manual")
TRAINERS = ("step", "fit")


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that decides a run's numbers. The CLI builds one from flags; tests build their own."""

  arch: str = "deep"
  hidden: tuple = ()  # () means the architecture's own hidden widths
  # Defaults measured over seeds 0-99 (README): plain SGD at a large rate with notebook 000's
  # uniform(-1, 1) init solved XOR most often for the 2-2-1 shapes, and deep 99 of 100.
  steps: int = 5000
  learning_rate: float = 5.0
  optimizer: str = "sgd"
  loss: str = "bce"
  init: str = "uniform"
  seed: int = 1  # seed 0 is one of the 2-2-1 initialisations that get stuck (README)
  log_every: int = 100
  image_every: int = 500  # pictures at logging steps that are multiples of this; 0: none
  diagnostics: bool = False  # gradient histograms and norms, update sign changes (notebook 002)
  gradients: str = "tape"  # or "manual": hand-written backprop (xor_tf.backprop)
  trainer: str = "step"  # or "fit": keras model.fit with xor_tf.callbacks.SummaryCallback

  @property
  def widths(self):
    """Hidden widths of the network, or () for `logistic` and `concat`."""
    return tuple(self.hidden) or DEFAULT_HIDDEN.get(self.arch, ())

  @property
  def shape(self):
    """The network's layer sizes as the notebooks write them, e.g. '2-10-10-10-1'."""
    if self.arch == "concat":
      return "2-(1+1)-1"
    return "-".join(str(n) for n in (2, *self.widths, 1))


def expected_one_of(what, received, choices):
  return f"Unknown {what} {received!r}; expected one of: {', '.join(sorted(choices))}."


def parse_hidden(text):
  """Parses '--hidden' ('3,3') into a tuple of widths; '' gives ().

  Raises:
    ValueError: with a one-line message if any width is not a positive integer.
  """
  if text is None or str(text).strip() == "":
    return ()
  parts = [p.strip() for p in str(text).split(",")]
  if not all(re.fullmatch(r"[0-9]+", p) and int(p) > 0 for p in parts):
    raise ValueError(
        f"--hidden expects comma-separated positive integers such as 3,3; received {text!r}.")
  return tuple(int(p) for p in parts)


def check_run_name(name):
  """Raises ValueError unless `name` can be one directory's name inside --logdir."""
  if name is None:
    return
  if not name or name in (".", "..") or "/" in name or "\\" in name or ".." in name:
    raise ValueError(
        "--run_name expects a non-empty directory name without path separators or '..'; "
        f"received {name!r}.")


def check(config):
  """Checks a Config's values together.

  Raises:
    ValueError: with a one-line message saying what was expected and what was received.
  """
  c = config
  if c.arch not in ARCHS:
    raise ValueError(expected_one_of("arch", c.arch, ARCHS))
  if c.optimizer not in OPTIMIZERS:
    raise ValueError(expected_one_of("optimizer", c.optimizer, OPTIMIZERS))
  if c.loss not in LOSSES:
    raise ValueError(expected_one_of("loss", c.loss, LOSSES))
  if c.init not in INITS:
    raise ValueError(expected_one_of("init", c.init, INITS))
  if c.gradients not in GRADIENTS:
    raise ValueError(expected_one_of("gradients", c.gradients, GRADIENTS))
  if c.gradients == "manual" and c.arch == "keras":
    raise ValueError("--gradients=manual is expected with the hand-built networks (logistic, "
                     "concat, nn, deep); received --arch=keras, whose Keras layers use the tape.")
  if c.trainer not in TRAINERS:
    raise ValueError(expected_one_of("trainer", c.trainer, TRAINERS))
  if c.trainer == "fit" and (c.arch != "keras" or c.gradients != "tape"):
    raise ValueError("--trainer=fit is expected with --arch=keras and --gradients=tape; received "
                     f"--arch={c.arch} --gradients={c.gradients}.")
  if not (isinstance(c.learning_rate, (int, float)) and math.isfinite(c.learning_rate)
          and c.learning_rate > 0):
    raise ValueError(f"learning_rate expects a finite number > 0; received {c.learning_rate!r}.")
  for name in ("steps", "log_every"):
    value = getattr(c, name)
    if not isinstance(value, int) or value <= 0:
      raise ValueError(f"{name} expects an integer > 0; received {value!r}.")
  if not isinstance(c.image_every, int) or c.image_every < 0:
    raise ValueError(f"image_every expects an integer >= 0; received {c.image_every!r}.")
  if not isinstance(c.seed, int) or c.seed < 0:
    raise ValueError(f"seed expects an integer >= 0; received {c.seed!r}.")
  if c.hidden and c.arch not in DEFAULT_HIDDEN:
    raise ValueError(
        f"--hidden is expected only with --arch=nn, deep or keras; received "
        f"--hidden={','.join(map(str, c.hidden))} with --arch={c.arch}, whose shape is fixed.")
  if any((not isinstance(w, int)) or w <= 0 for w in c.hidden):
    raise ValueError(f"hidden expects positive integer widths; received {c.hidden!r}.")
  check_limits(c)
  return config


# Limits of what runs in reasonable memory and time; beyond them a run is refused up front.
MAX_STEPS = 10**15  # steps and intervals: a 2-2-1 at ~1 µs a step would take 30 years
MAX_SEED = 2**63 - 1  # the seed is an int64 of the stateless random ops
MAX_WIDTH = 1024  # hidden units in one layer
MAX_UNITS = 1024  # hidden units in all: each gets a heatmap at every picture step
MAX_LAYERS = 32


def check_limits(c):
  """Raises ValueError for values that are well-formed but could not run in reasonable memory."""
  for name in ("steps", "log_every", "image_every"):
    if getattr(c, name) > MAX_STEPS:
      raise ValueError(f"{name} expects at most {MAX_STEPS:.0e}; received {getattr(c, name)}.")
  if c.seed > MAX_SEED:
    raise ValueError(f"seed expects an integer from 0 to 2**63-1; received {c.seed}.")
  widths = c.widths
  if (any(w > MAX_WIDTH for w in widths) or sum(widths) > MAX_UNITS
      or len(widths) > MAX_LAYERS):
    raise ValueError(f"hidden expects at most {MAX_LAYERS} layers of at most {MAX_WIDTH} units, "
                     f"{MAX_UNITS} in all; received {','.join(map(str, widths))}.")
