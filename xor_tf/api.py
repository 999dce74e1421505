"""Train from Python or a notebook: `xor_tf.train(arch="deep", seed=3)` returns a `Run`.

The keyword arguments are `python -m xor_tf.train`'s flags, by the same names, with the same
defaults and the same checks: the settings are the fields of `xor_tf.config.Config` (checked by
`config.config_from_values`), the rest are the options below. A bad one raises ValueError (a
bad value) or TypeError (an unknown name) whose one-line message says what was expected and
what was received, before anything is written; a notebook never sees a SystemExit.

The `Run` it returns shows itself in Jupyter: its truth table and the run's pictures inline
(`_repr_html_`, the PNGs as data URIs), or the decision boundary alone (`_repr_png_`); as plain
text (`repr`) the summary line and the truth table.

No TensorFlow is imported here until `train` is called, so `import xor_tf` stays quick and the
command line's flag errors answer before TensorFlow starts.
"""

import base64
import dataclasses
import difflib
import html
import inspect
import io
import os
import re
import sys

from xor_tf import config as config_lib
from xor_tf import rundir

# Options of `python -m xor_tf.train` that are not settings of a run's numbers, with their
# defaults there (`tests/test_api.py` holds them against the command line's flags). --resume
# is the command line's alone.
OPTIONS = {"logdir": "logs", "run_name": None, "checkpoint_every": 1000, "export": False,
           "landscape": False}
# The pictures a run saves in its run directory, in the order a Run shows them; any other PNG
# there follows in name order.
PICTURE_ORDER = ("decision_boundary.png", "hidden_space.png", "landscape.png")


def setting_names():
  """The settings `train` takes, as `python -m xor_tf.train` has flags for them."""
  return [name for name, f in config_lib.FIELDS.items() if f.metadata.get("flag", True)]


def _as_keywords(message):
  """A check's message, its '--name' flag spellings written as the keyword 'name'."""
  names = "|".join(re.escape(n) for n in (*setting_names(), *OPTIONS))
  return re.sub(rf"--({names})\b", r"\1", message)


def _hidden_text(value):
  """hidden= as the flag's text: '3,3', 3, (3, 3) or [3, 3]; '' or () for the arch's own."""
  if isinstance(value, (list, tuple)):
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in value):
      raise ValueError(f"hidden expects positive integer widths such as (3, 3) or '3,3'; "
                       f"received {value!r}.")
    return ",".join(str(w) for w in value)
  if isinstance(value, int) and not isinstance(value, bool):
    return str(value)
  if isinstance(value, str):
    return value
  raise ValueError(f"hidden expects positive integer widths such as (3, 3) or '3,3'; "
                   f"received {value!r}.")


def _plain(value):
  """A NumPy scalar as the Python int, float or bool it holds; anything else as it is."""
  if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
    return value.item()
  return value


def check_arguments(kwargs):
  """The checked Config and options of `train(**kwargs)`.

  Returns:
    (config, options): a checked `config.Config` and {option: value} with every OPTIONS key.

  Raises:
    TypeError: for a keyword that is neither a setting nor an option.
    ValueError: for a value the command line would refuse, in one line.
  """
  known = setting_names() + list(OPTIONS) + ["verbose"]
  for name in kwargs:
    if name not in known:
      close = difflib.get_close_matches(name, known, n=1)
      hint = f" (did you mean {close[0]}?)" if close else ""
      raise TypeError(f"xor_tf.train expects keyword arguments among {', '.join(known)}; "
                      f"received {name}={kwargs[name]!r}{hint}.")
  # A NumPy scalar (a seed from np.arange, a rate from np.logspace) is taken as its Python value.
  settings = {n: _plain(kwargs[n]) for n in setting_names() if n in kwargs}
  options = {n: kwargs.get(n, default) for n, default in OPTIONS.items()}
  try:
    for name, value in settings.items():
      if config_lib.FIELDS[name].type in (bool, "bool") and not isinstance(value, bool):
        raise ValueError(f"{name} expects True or False; received {value!r}.")
    if "hidden" in settings:
      settings["hidden"] = _hidden_text(settings["hidden"])
    config = config_lib.config_from_values(settings)
    for name in ("export", "landscape", "verbose"):
      value = kwargs.get(name, OPTIONS.get(name, False))
      if not isinstance(value, bool):
        raise ValueError(f"{name} expects True or False; received {value!r}.")
    every = options["checkpoint_every"]
    if isinstance(every, bool) or not isinstance(every, int) or not (
        0 < every <= config_lib.MAX_STEPS):
      raise ValueError(f"checkpoint_every expects an integer from 1 to "
                       f"{config_lib.MAX_STEPS:.0e}; received {every!r}.")
    logdir = options["logdir"]
    if not isinstance(logdir, (str, os.PathLike)):
      raise ValueError(f"logdir expects a directory path; received {logdir!r}.")
    options["logdir"] = logdir = os.fspath(logdir)
    rundir.check_logdir(logdir)
    name = options["run_name"]
    if name is not None:
      if not isinstance(name, str):
        raise ValueError(f"run_name expects a directory name or None; received {name!r}.")
      config_lib.check_run_name(name)
      rundir.check_name(name)
      rundir.check_new(logdir, name)
  except ValueError as e:
    raise ValueError(_as_keywords(str(e))) from None
  return config, options


def train(*, verbose=False, **kwargs):
  """Trains one network on XOR into a new run directory, as `python -m xor_tf.train` does.

  Example, in a notebook (the last line shows the truth table and the pictures):

      import xor_tf
      run = xor_tf.train(arch="nn", seed=0, steps=2000)
      run

  Args:
    verbose: print what the command line prints (the header, progress lines, truth table and
      paths) while training. Default False: a notebook shows the returned Run instead, and its
      `report` keeps the same text.
    **kwargs: the command line's flags as keyword arguments, by the same names, with the same
      defaults: every setting of `xor_tf.config.Config` (arch, hidden, steps, activation,
      learning_rate, optimizer, momentum, loss, init, seed, log_every, image_every,
      diagnostics, gradients, trainer) and logdir='logs', run_name=None,
      checkpoint_every=1000, export=False, landscape=False. `hidden` takes '3,3', 3 or
      (3, 3).

  Returns:
    A `Run`.

  Raises:
    TypeError: for an unknown keyword argument (or a positional one).
    ValueError: for a value the command line refuses (one line, nothing written).
    FloatingPointError: if the loss became non-finite (the run directory keeps what was
      written; its `run_dir` and `step` attributes say where).
  """
  config, options = check_arguments(dict(kwargs, verbose=verbose))
  from xor_tf import quiet  # pylint: disable=g-import-not-at-top (TensorFlow only when training)
  quiet.import_tensorflow()
  from xor_tf import experiment  # pylint: disable=g-import-not-at-top
  from xor_tf import training  # pylint: disable=g-import-not-at-top

  out = _Report(echo=sys.stdout if verbose else None)
  flag_lines = config_lib.flag_lines(config) + [
      f"--logdir={options['logdir']}", f"--checkpoint_every={options['checkpoint_every']}"]
  run_dir = os.path.join(options["logdir"], options["run_name"] or rundir.default_name(config))
  try:
    result, run_dir = experiment.run(
        config, logdir=options["logdir"], run_name=os.path.basename(run_dir),
        flag_lines=flag_lines, out=out, checkpoint_every=options["checkpoint_every"],
        export=options["export"], landscape=options["landscape"])
  except training.Diverged as e:
    error = FloatingPointError(
        f"the loss became non-finite at step {e.step} with learning_rate="
        f"{config.learning_rate:g}; expected a finite loss, so try a smaller learning_rate "
        f"(what was written is kept in {run_dir!r}).")
    error.step, error.run_dir = e.step, run_dir
    raise error from None
  return Run(config=config, run_dir=run_dir, result=result, report=out.getvalue())


def _signature():
  """train's signature as a notebook's help shows it: every keyword and its default."""
  defaults = config_lib.Config.__dataclass_fields__
  params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=defaults[n].default)
            for n in setting_names()]
  params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
             for n, d in (*OPTIONS.items(), ("verbose", False))]
  return inspect.Signature(params)


train.__signature__ = _signature()


class _Report(io.StringIO):
  """Keeps what the command line would print, and echoes it as it comes when asked."""

  def __init__(self, echo=None):
    super().__init__()
    self.echo = echo

  def write(self, text):
    if self.echo is not None:
      self.echo.write(text)
    return super().write(text)

  def flush(self):
    if self.echo is not None:
      self.echo.flush()
    super().flush()


@dataclasses.dataclass
class Run:
  """One trained run: its settings, truth table, curves, run directory and pictures.

  Attributes:
    config: the run's checked `xor_tf.config.Config`.
    run_dir: the run directory (TensorBoard: `%tensorboard --logdir <its parent>`).
    result: the trainer's `xor_tf.training.Result`.
    report: what `python -m xor_tf.train` prints for this run.
  """

  config: config_lib.Config
  run_dir: str
  result: object
  report: str = ""

  @property
  def probabilities(self):
    """The output probability for each XOR input, in `data.INPUTS` order: a float array [4]."""
    return self.result.probabilities

  @property
  def truth_table(self):
    """[(x1, x2, probability, label, target)] for the four XOR inputs, as the CLI prints it."""
    from xor_tf import data  # pylint: disable=g-import-not-at-top
    return [(int(x1), int(x2), float(p), int(p > 0.5), int(y)) for (x1, x2), p, y in
            zip(data.INPUTS, self.probabilities, data.LABELS[:, 0])]

  @property
  def loss(self):
    """The loss at the last step."""
    return self.result.loss

  @property
  def accuracy(self):
    """The accuracy at the last step (1.0: XOR learned)."""
    return self.result.accuracy

  @property
  def history(self):
    """{'step': [...], 'loss': [...], 'accuracy': [...]} at every logging step."""
    return self.result.history

  @property
  def step(self):
    """The step training ended at (config.steps unless interrupted)."""
    return self.result.step

  @property
  def pictures(self):
    """{file name: PNG bytes} of the pictures saved in the run directory, decision boundary first."""
    names = sorted((n for n in os.listdir(self.run_dir) if n.endswith(".png")),
                   key=lambda n: (PICTURE_ORDER.index(n) if n in PICTURE_ORDER
                                  else len(PICTURE_ORDER), n))
    pictures = {}
    for name in names:
      with open(os.path.join(self.run_dir, name), "rb") as f:
        pictures[name] = f.read()
    return pictures

  def _title(self):
    stopped = " (interrupted)" if self.result.interrupted else ""
    return (f"xor_tf run {' '.join(config_lib.name_parts(self.config))}: {self.step} steps"
            f"{stopped}, trainer={self.config.trainer}, loss {self.loss:.6f}, accuracy "
            f"{self.accuracy:.2f}")

  def __repr__(self):
    lines = [self._title(), "", "x1 x2  probability  label  target"]
    lines += [f" {x1}  {x2}       {p:.4f}      {label}       {y}"
              for x1, x2, p, label, y in self.truth_table]
    lines += ["", f"run directory: {self.run_dir}"]
    return "\n".join(lines)

  def _repr_html_(self):
    rows = "".join(
        f"<tr><td>{x1}</td><td>{x2}</td><td>{p:.4f}</td><td>{label}</td><td>{y}</td></tr>"
        for x1, x2, p, label, y in self.truth_table)
    figures = "".join(
        f'<figure style="display:inline-block;margin:0 1em 0 0">'
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
        f'alt="{html.escape(name)}"/><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, png in self.pictures.items())
    return (f"<div><p><b>{html.escape(self._title())}</b></p>"
            "<table><tr><th>x1</th><th>x2</th><th>probability</th><th>label</th>"
            f"<th>target</th></tr>{rows}</table>"
            f"<div>{figures}</div><p>run directory: <code>{html.escape(self.run_dir)}</code>"
            "</p></div>")

  def _repr_png_(self):
    return self.pictures.get("decision_boundary.png")
