"""What a run is: the `Config` of plain values, each setting declared once (no TensorFlow here).

Every field of `Config` is a setting declared with `setting(...)`: its help text, its choices or
check, whether a sweep takes a list of it, how it appears in a run's name, and whether it is an
HParams hparam. From that one declaration the command lines define their flags
(`define_train_flags`, `xor_tf.sweep.define_flags`), save them in flags.txt, check them (`check`), and name runs (`name_parts`); the
sweep builds its grid and its HParams from it. To add a setting, add a field here; to add an
activation or an optimizer, add an entry to `xor_tf.activations` or `xor_tf.optim`.
"""

import dataclasses
import math
import re

from xor_tf import activations as activations_lib
from xor_tf import optim

# The architecture of each name: its hidden widths, or None where the shape is fixed.
ARCHS = ("logistic", "concat", "nn", "deep", "keras")
DEFAULT_HIDDEN = {"nn": (2,), "deep": (10, 10, 10), "keras": (10, 10, 10)}
ACTIVATIONS = activations_lib.NAMES
OPTIMIZERS = optim.NAMES
LOSSES = ("bce", "mse")
INITS = ("glorot", "normal", "uniform")
GRADIENTS = ("tape", "manual")
TRAINERS = ("step", "fit")

# Limits of what runs in reasonable memory and time; beyond them a run is refused up front.
MAX_STEPS = 10**15  # steps and intervals: a 2-2-1 at ~1 µs a step would take 30 years
MAX_SEED = 2**63 - 1  # the seed is an int64 of the stateless random ops
MAX_WIDTH = 1024  # hidden units in one layer
MAX_UNITS = 1024  # hidden units in all: each gets a heatmap at every picture step
MAX_LAYERS = 32


def setting(help, *, choices=None, sweep=None, name=None, hparam=False, optimizer_default=None,
            check=None, flag=True):
  """The declaration of one Config field, as its dataclass metadata.

  Args:
    help: the flag's help text.
    choices: the allowed values (an enum flag), or None.
    sweep: how xor_tf.sweep takes it: 'list' (comma-separated values, combined in the grid),
      'one' (one value for the whole sweep), 'hidden' (--hidden's repeated shapes), or None
      (not a sweep flag).
    name: config -> the setting's part of run and configuration names ('' for none), or None.
    hparam: whether it is an HParams hparam of sweeps.
    optimizer_default: for a hyperparameter of some optimizers (named in their
      `optim.OPTIMIZERS` entry): the value it takes when not given; None elsewhere.
    check: (predicate, what is expected) for a value that is not None, or None.
    flag: whether xor_tf.train has a flag for it.
  """
  return {"help": help, "choices": choices, "sweep": sweep, "name": name, "hparam": hparam,
          "optimizer_default": optimizer_default, "check": check, "flag": flag}


def _int_in(lo, hi):
  return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _finite_positive(v):
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that decides a run's numbers. The CLI builds one from flags; tests build their own."""

  arch: str = dataclasses.field(default="deep", metadata=setting(
      "Network to train. logistic: one sigmoid unit 2-1, the negative control that cannot "
      "learn XOR. concat: two logistic units reading the inputs, concatenated into a third "
      "(the lecture's NN1, NN2 -> NN3). nn: 2-2-1. deep: 2-10-10-10-1. keras: a "
      "keras.Sequential shaped like deep, trained by the same train step.",
      choices=ARCHS, sweep="list", name=lambda c: f"{c.arch}-{c.shape}", hparam=True))
  hidden: tuple = dataclasses.field(default=(), metadata=setting(  # () means the arch's own
      "Comma-separated hidden-layer widths, e.g. 3 for 2-3-1 or 4,2 for 2-4-2-1. Replaces the "
      "hidden layers of --arch=nn, deep (hand-built) or keras (keras.Sequential); not allowed "
      "with logistic or concat, whose shapes are fixed. Empty: the architecture's own.",
      sweep="hidden"))
  activation: str = dataclasses.field(default="sigmoid", metadata=setting(
      "Activation of the hidden units (the output unit stays a sigmoid). sigmoid: the "
      "notebooks'. tanh, relu. linear: none at all, so any depth is still a line and cannot "
      "learn XOR. Each has its own default --learning_rate (xor_tf/activations.py).",
      choices=ACTIVATIONS, sweep="list", name=lambda c: c.activation, hparam=True))
  optimizer: str = dataclasses.field(default="sgd", metadata=setting(
      "; ".join(f"{r.name}: {r.description}" for r in optim.OPTIMIZERS.values()) + ".",
      choices=OPTIMIZERS, sweep="list", name=lambda c: c.optimizer, hparam=True))
  # None: the activation's own rate (activations.ACTIVATIONS), 5 for sigmoid.
  learning_rate: float = dataclasses.field(default=None, metadata=setting(
      "Learning rate of the optimizer; finite and > 0. Default: the hidden activation's own ("
      + ", ".join(f"{a.name} {a.learning_rate:g}" for a in activations_lib.ACTIVATIONS.values())
      + "). The loss is the mean over the four points (the "
      "notebooks sum), so 4 here equals the notebooks' 1 with SGD. For adam try 0.05.",
      sweep="list", name=lambda c: f"lr{c.learning_rate:g}", hparam=True,
      check=(_finite_positive, "a finite number > 0")))
  momentum: float = dataclasses.field(default=None, metadata=setting(
      "Momentum coefficient of --optimizer=momentum, in [0, 1); default 0.9. Not allowed with "
      "the other optimizers.",
      sweep="list", name=lambda c: f"mom{c.momentum:g}", hparam=True, optimizer_default=0.9,
      check=(lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "a number in [0, 1)")))
  loss: str = dataclasses.field(default="bce", metadata=setting(
      "bce: binary cross-entropy computed stably from logits. mse: mean squared error of the "
      "probabilities (notebook 001).",
      choices=LOSSES, sweep="list", name=lambda c: c.loss, hparam=True))
  init: str = dataclasses.field(default="uniform", metadata=setting(
      "Initial weights. glorot: Glorot-uniform weights, zero biases (Keras' default). normal: "
      "N(0, 1) weights and biases (the TensorFlow notebooks). uniform: uniform(-1, 1) weights, "
      "zero biases (NumPy notebook 000).",
      choices=INITS, sweep="list", name=lambda c: c.init, hparam=True))
  # Seed 0 is one of the 2-2-1 initialisations that get stuck (README).
  seed: int = dataclasses.field(default=1, metadata=setting(
      "Seed of the initial weights; same flags and seed give the same numbers on the same "
      "machine.",
      name=lambda c: f"seed{c.seed}",
      check=(_int_in(0, MAX_SEED), "an integer from 0 to 2**63-1")))
  # Defaults measured over seeds 0-99 (README): plain SGD at a large rate with notebook 000's
  # uniform(-1, 1) init solved XOR most often for the 2-2-1 shapes, and deep 99 of 100.
  steps: int = dataclasses.field(default=5000, metadata=setting(
      "Training steps; each is one update on all four XOR points.",
      sweep="one", hparam=True,
      check=(_int_in(1, MAX_STEPS), f"an integer from 1 to {MAX_STEPS:.0e}")))
  log_every: int = dataclasses.field(default=100, metadata=setting(
      "Write summaries (loss, accuracy, histograms) at step 0, every this many steps, and at "
      "the last step.", check=(_int_in(1, MAX_STEPS), f"an integer from 1 to {MAX_STEPS:.0e}")))
  # None: log-spaced picture steps (xor_tf.training.is_picture_step).
  image_every: int = dataclasses.field(default=None, metadata=setting(
      "Draw pictures (the decision boundary over the input plane, one heatmap per hidden "
      "neuron, the hidden layer's view of the four points) every this many steps and at the "
      "last step; 0: none. Default: dense early, sparse late (0, 10, 20, 30, 50, 70, 100, "
      "200, ..., and the last), so the boundary is seen forming. Picture steps are logging "
      "steps too.",
      check=(_int_in(0, MAX_STEPS), f"an integer from 0 to {MAX_STEPS:.0e}")))
  diagnostics: bool = dataclasses.field(default=False, metadata=setting(
      "Also log, at every logging step: a histogram of each weight's gradient and each layer's "
      "gradient norm (the vanishing gradient of deep sigmoid stacks shows there), and notebook "
      "002's count of how often each weight's update changed direction since the last logging "
      "step (a histogram per layer and the total)."))
  gradients: str = dataclasses.field(default="tape", metadata=setting(
      "tape: gradients by tf.GradientTape. manual: backpropagation written out by hand "
      "(xor_tf/backprop.py, the notebooks' equations); hand-built architectures only.",
      choices=GRADIENTS))
  trainer: str = dataclasses.field(default="step", metadata=setting(
      "step: xor_tf's shared compiled train step. fit: keras model.fit with "
      "xor_tf.callbacks.SummaryCallback, for --arch=keras only, to compare the two side by "
      "side in TensorBoard. With fit each step is one batch of the four XOR points and one "
      "Keras epoch is --log_every steps (the last may be shorter), run as one compiled "
      "execution; the same summaries are written, the loss at each logging step's weights; "
      "fit runs have no checkpoints.",
      choices=TRAINERS))

  def __post_init__(self):
    # Settings left to their defaults take the value that depends on other settings: the
    # activation's learning rate, an optimizer's own hyperparameters where it uses them.
    if self.learning_rate is None and self.activation in activations_lib.ACTIVATIONS:
      object.__setattr__(self, "learning_rate", activations_lib.ACTIVATIONS[
          self.activation].learning_rate)
    for f in dataclasses.fields(self):
      default = f.metadata.get("optimizer_default")
      if (default is not None and getattr(self, f.name) is None
          and f.name in _hyperparameters_of(self.optimizer)):
        object.__setattr__(self, f.name, default)

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

  @property
  def hyperparameters(self):
    """What the optimizer reads: {'learning_rate': ..., and its own, e.g. 'momentum'}."""
    return {"learning_rate": self.learning_rate,
            **{name: getattr(self, name) for name in _hyperparameters_of(self.optimizer)}}


def _hyperparameters_of(optimizer):
  rule = optim.OPTIMIZERS.get(optimizer)
  return rule.hyperparameters if rule else ()


def check_declarations(cls):
  """Raises TypeError naming a field of `cls` not declared with `setting(...)`.

  A field without its declaration would silently miss its flag, its check and its place in
  names and HParams; so it fails at import, loudly.
  """
  for f in dataclasses.fields(cls):
    if set(f.metadata) != set(setting("")):
      raise TypeError(f"{cls.__name__}.{f.name} is expected to be declared with "
                      f"dataclasses.field(metadata=config.setting(...)); received metadata "
                      f"{dict(f.metadata)!r}.")


check_declarations(Config)
FIELDS = {f.name: f for f in dataclasses.fields(Config)}


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
  for f in dataclasses.fields(c):
    value, meta = getattr(c, f.name), f.metadata
    if meta.get("choices") and value not in meta["choices"]:
      raise ValueError(expected_one_of(f.name.replace("_", " "), value, meta["choices"]))
    if meta.get("optimizer_default") is not None:
      users = [r.name for r in optim.OPTIMIZERS.values() if f.name in r.hyperparameters]
      if value is not None and f.name not in _hyperparameters_of(c.optimizer):
        raise ValueError(f"--{f.name} is expected only with --optimizer="
                         f"{' or '.join(users)}; received --{f.name}={value:g} with "
                         f"--optimizer={c.optimizer}.")
    if meta.get("check") and value is not None:
      predicate, expected = meta["check"]
      if not predicate(value):
        raise ValueError(f"{f.name} expects {expected}; received {value!r}.")
  if c.gradients == "manual" and c.arch == "keras":
    raise ValueError("--gradients=manual is expected with the hand-built networks (logistic, "
                     "concat, nn, deep); received --arch=keras, whose Keras layers use the tape.")
  if c.trainer == "fit" and (c.arch != "keras" or c.gradients != "tape"):
    raise ValueError("--trainer=fit is expected with --arch=keras and --gradients=tape; received "
                     f"--arch={c.arch} --gradients={c.gradients}.")
  if c.hidden and c.arch not in DEFAULT_HIDDEN:
    raise ValueError(
        f"--hidden is expected only with --arch=nn, deep or keras; received "
        f"--hidden={','.join(map(str, c.hidden))} with --arch={c.arch}, whose shape is fixed.")
  if any((not isinstance(w, int)) or w <= 0 for w in c.hidden):
    raise ValueError(f"hidden expects positive integer widths; received {c.hidden!r}.")
  check_limits(c)
  return config




def check_limits(c):
  """Raises ValueError for a shape that is well-formed but could not run in reasonable memory.

  (The limits of steps, intervals and seeds are in their fields' declared checks.)
  """
  widths = c.widths
  if (any(w > MAX_WIDTH for w in widths) or sum(widths) > MAX_UNITS
      or len(widths) > MAX_LAYERS):
    raise ValueError(f"hidden expects at most {MAX_LAYERS} layers of at most {MAX_WIDTH} units, "
                     f"{MAX_UNITS} in all; received {','.join(map(str, widths))}.")


def name_parts(config, *, seed=True):
  """The settings' parts of a run's name, in declaration order, e.g. ['deep-2-10-10-10-1',
  'sigmoid', 'sgd', 'lr5', 'bce', 'uniform', 'seed1']; a hyperparameter the optimizer does not
  use is left out."""
  parts = []
  for f in dataclasses.fields(config):
    fmt = f.metadata.get("name")
    if fmt is None or (f.name == "seed" and not seed) or getattr(config, f.name) is None:
      continue
    parts.append(fmt(config))
  return parts


def describe(config):
  """E.g. 'nn-2-2-1 sigmoid sgd lr5 bce uniform': what tells one configuration of a sweep."""
  return " ".join(name_parts(config, seed=False))


def hparams(config):
  """{hparam name: value} of a configuration for HParams; 'shape' stands beside 'arch'."""
  values = {}
  for f in dataclasses.fields(config):
    if f.metadata.get("hparam") and getattr(config, f.name) is not None:
      values[f.name] = getattr(config, f.name)
    if f.name == "arch":
      values["shape"] = config.shape
  return values


def flag_value(config, name):
  """The flag text of a setting as a run used it (the widths, not an empty --hidden)."""
  value = getattr(config, name)
  if name == "hidden":
    return ",".join(map(str, config.widths))
  if isinstance(value, float):
    return repr(value)
  return str(value)


def flag_lines(config):
  """--name=value of every train flag a config sets, as saved in flags.txt (None: left out)."""
  return [f"--{f.name}={flag_value(config, f.name)}" for f in dataclasses.fields(config)
          if f.metadata.get("flag", True) and getattr(config, f.name) is not None
          and not (f.name == "hidden" and not config.widths)]


def define_train_flags(flags):
  """Defines xor_tf.train's flag of every setting with absl `flags`; returns {name: holder}."""
  holders = {}
  defaults = Config()
  for f in dataclasses.fields(Config):
    meta = f.metadata
    if not meta.get("flag", True):
      continue
    # None where the default depends on other settings (Config.__post_init__ resolves it).
    default = getattr(defaults, f.name)
    if f.name == "learning_rate" or meta.get("optimizer_default") is not None:
      default = None  # (image_every's default is None too: log-spaced pictures)
    if meta.get("choices"):
      holders[f.name] = flags.DEFINE_enum(f.name, default, meta["choices"], meta["help"])
    elif f.type in (bool, "bool"):
      holders[f.name] = flags.DEFINE_boolean(f.name, default, meta["help"])
    elif f.type in (int, "int"):
      holders[f.name] = flags.DEFINE_integer(f.name, default, meta["help"])
    elif f.type in (float, "float"):
      holders[f.name] = flags.DEFINE_float(f.name, default, meta["help"])
    else:  # hidden: a comma-separated string
      holders[f.name] = flags.DEFINE_string(f.name, "", meta["help"])
  return holders


def config_from_values(values):
  """A checked Config from {setting name: flag value} (hidden as text). Raises ValueError."""
  kwargs = dict(values)
  if "hidden" in kwargs:
    kwargs["hidden"] = parse_hidden(kwargs["hidden"])
  return check(Config(**kwargs))


def sweep_settings():
  """The fields a sweep takes: {name: 'list' | 'one' | 'hidden'}, in declaration order."""
  return {f.name: f.metadata["sweep"] for f in dataclasses.fields(Config)
          if f.metadata.get("sweep")}
