"""Sweeps a grid of settings, many seeds at once, into TensorBoard's HParams dashboard.

    python -m xor_tf.sweep --arch=nn,deep --learning_rate=0.001,0.01,0.1,1,10,100,1000 \\
        --optimizer=sgd,adam --seeds=0-99

Each configuration of the grid (every combination of the list-valued flags) trains all its seeds
together as one ensemble (xor_tf.ensemble) and prints its census: how many seeds solve XOR, the
median steps to solve, and the final losses where the others are stuck. Everything goes into a
new sweep directory inside --logdir (any tf.io.gfile path, e.g. a bucket):

    <sweep>/                the HParams experiment (hparams_config) and the census of all
                            configurations as a Markdown table (Text dashboard); flags.txt
    <sweep>/<config>/       that configuration's census: scalars census/... and a Markdown table
    <sweep>/<config>/seed7  one HParams trial per configuration and seed (--trials=seed): its
                            hparams and metrics final_loss, final_accuracy, steps_to_solve,
                            diverged

Flags are parsed and checked before TensorFlow is imported, so --help and flag errors answer at
once.

Several machines (MultiWorkerMirroredStrategy): start the same command on every machine, with
TF_CONFIG listing all of them and giving this one's index, e.g. on the first of two:

    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
                "task": {"type": "worker", "index": 0}}' \\
        python -m xor_tf.sweep --logdir=gs://bucket/xor --seeds=0-99999 --arch=nn,deep

and "index": 1 on the second. Each machine trains its replicas' slices of every configuration's
seeds; the per-seed results are gathered, and worker 0 (or the "chief" task, if TF_CONFIG lists
one) prints and writes the sweep, into a --logdir that all can reach and one TensorBoard reads.
"""

import datetime
import io
import itertools
import math
import os
import re
import secrets
import sys
import time
import types

from absl import app
from absl import flags
from absl import logging

from xor_tf import cli
from xor_tf import config as config_lib
from xor_tf import optim
from xor_tf import quiet
from xor_tf import rundir

PROG = "xor_tf.sweep"
HAND_BUILT = tuple(a for a in config_lib.ARCHS if a != "keras")
FIXED_SHAPES = tuple(a for a in HAND_BUILT if a not in config_lib.DEFAULT_HIDDEN)
TRIALS = ("seed", "config", "none")
DISTRIBUTE = ("auto", "none", "mirrored", "multi_worker")
_DEFAULTS = config_lib.Config()
_FLAGS = None  # define_flags(), when run as a program
# A sweep's own defaults where they differ from a single run's; a setting whose default depends
# on others (learning_rate: the activation's; momentum: 0.9 where used) defaults to [].
SWEEP_DEFAULTS = {"arch": ["concat", "nn", "deep"]}


def _list_default(name):
  field = config_lib.FIELDS[name]
  if name == "learning_rate" or field.metadata.get("optimizer_default") is not None:
    return []
  return [str(getattr(_DEFAULTS, name))]


def define_flags():
  """Defines the command line's flags; returns their holders (`.value` once parsed).

  Called only when the module runs as a program, so that importing it for its functions leaves
  absl's global flags alone: xor_tf.train defines some of the same names.
  """
  f = types.SimpleNamespace()
  # One list flag per setting that Config declares with sweep='list' (and --hidden, --steps),
  # with the setting's own help: a new setting reaches the sweep from its declaration.
  for name, kind in config_lib.sweep_settings().items():
    help_text = config_lib.FIELDS[name].metadata["help"]
    if kind == "hidden":
      setattr(f, name, flags.DEFINE_multi_string(
          "hidden", [],
          "Hidden widths of nn and deep, one shape per flag, widths comma-separated: --hidden=2 "
          "--hidden=4 --hidden=3,3 sweeps 2-2-1, 2-4-1 and 2-3-3-1 (notebook 002 compares 4 "
          "and 32 hidden units). Not given, or given empty: each architecture's own. logistic "
          "and concat have fixed shapes and ignore it. nn and deep with the same widths are one "
          "network, swept once."))
    elif kind == "one":
      setattr(f, name, flags.DEFINE_integer(name, getattr(_DEFAULTS, name),
                                            f"The same for every network. {help_text}"))
    else:
      setattr(f, name, flags.DEFINE_list(name, SWEEP_DEFAULTS.get(name, _list_default(name)),
                                         f"Comma-separated list; every value is combined with "
                                         f"every other flag's. {help_text}"))
  f.seeds = flags.DEFINE_string(
      "seeds", "0-99",
      "Seeds of every configuration: numbers and ranges lo-hi, comma-separated, e.g. 0-99 or "
      "0-9,42. Seed s starts from exactly the weights of `xor_tf.train --seed=s`.")
  f.logdir = flags.DEFINE_string(
      "logdir", "logs",
      "Directory (any tf.io.gfile path, e.g. gs://bucket/logs) that holds sweep directories; "
      "TensorBoard opens it.")
  f.sweep_name = flags.DEFINE_string(
      "sweep_name", None,
      "Name of this sweep's directory inside --logdir (no path separators). Default: 'sweep-', "
      "a timestamp and a random suffix. An existing directory is never overwritten.")
  f.trials = flags.DEFINE_enum(
      "trials", "seed", TRIALS,
      "What one HParams trial is. seed: one per configuration and seed, so single networks can "
      "be sorted by final loss or steps to solve; each is a run directory with one small event "
      "file (~2 ms to write, and TensorBoard loads every run: keep sweeps under ~10,000 "
      "networks). config: one per configuration, with the census as its metrics, for sweeps of "
      "many seeds. none: no HParams; the census scalars and tables only.")
  f.distribute = flags.DEFINE_enum(
      "distribute", "auto", DISTRIBUTE,
      "How the seeds of a configuration spread over devices (tf.distribute). none: one compiled "
      "loop on the default device (fastest on one CPU). mirrored: MirroredStrategy over this "
      "machine's GPUs, or over the logical CPUs of --cpu_devices. multi_worker: "
      "MultiWorkerMirroredStrategy over the machines that TF_CONFIG lists; run the same command "
      "on each, the chief writes. auto: multi_worker if TF_CONFIG is set, else mirrored if there "
      "are several GPUs or --cpu_devices > 1, else none.")
  f.cpu_devices = flags.DEFINE_integer(
      "cpu_devices", 1,
      "Split the CPU into this many logical devices, so that mirrored (or auto) gives each a "
      "replica and a slice of the seeds.")

  flags.register_validator("steps", lambda v: v is not None and v > 0,
                           message="expected an integer > 0")
  flags.register_validator("cpu_devices", lambda v: v is not None and v > 0,
                           message="expected an integer > 0")
  return f


def parse_seeds(text):
  """Parses '0-99,200,300-309' into a sorted list of distinct seeds.

  Raises:
    ValueError: with a one-line message if a part is not a seed >= 0 or a range lo-hi, lo <= hi.
  """
  seeds = set()
  for part in str(text).split(","):
    lo, sep, hi = part.strip().partition("-")
    if (not re.fullmatch(r"[0-9]+", lo) or (sep and not re.fullmatch(r"[0-9]+", hi))
        or (sep and int(hi) < int(lo))):
      raise ValueError("--seeds expects seeds >= 0 and ranges lo-hi separated by commas, such "
                       f"as 0-99 or 0-9,42; received {text!r}.")
    seeds.update(range(int(lo), int(hi if sep else lo) + 1))
  return sorted(seeds)


def parse_numbers(name, values):
  """['0.1', '10'] -> [0.1, 10.0] for setting `name`; raises ValueError unless each is a number
  its declaration accepts. An empty list stays empty (each configuration's own default)."""
  predicate, expected = config_lib.FIELDS[name].metadata["check"]
  numbers = []
  for v in values:
    try:
      number = float(v)
    except ValueError:
      number = math.nan
    if not predicate(number):
      raise ValueError(f"--{name} expects comma-separated values, each {expected}; received "
                       f"{','.join(values)!r}.")
    numbers.append(number)
  return numbers


def check_choices(name, values, choices):
  """Raises ValueError unless `values` is a non-empty list of `choices`."""
  if not values:
    raise ValueError(f"--{name} expects one or more of: {', '.join(choices)}; received ''.")
  for v in values:
    if v == "keras" and name == "arch":
      raise ValueError("--arch=keras is expected only in single runs (xor_tf.train); a sweep "
                       "stacks the hand-built networks, so use --arch=deep: the same "
                       "2-10-10-10-1 shape and the same initial weights for each seed.")
    if v not in choices:
      raise ValueError(config_lib.expected_one_of(name.replace("_", " "), v, choices))


def grid(values, *, hidden=(), steps):
  """Every combination of the values, as checked Configs in a stable order.

  Args:
    values: {setting name: list of values} for the settings Config declares with
      sweep='list' (`config_lib.sweep_settings`); a setting left out or given [] takes its
      default (learning_rate: the activation's own; momentum: 0.9 with the optimizers that use
      it). The order of combination is the declarations', with the learning rate and the
      optimizers' hyperparameters last.
    hidden: hidden-width tuples for nn and deep; () or an empty list means each arch's own.
    steps: training steps of every configuration.

  Returns:
    A list of `Config`s without repeats: nn and deep with equal widths are one network, and an
    optimizer's hyperparameter is combined only with the optimizers that use it.

  Raises:
    ValueError: with a one-line message if a value is not valid, or a hyperparameter is given
      with no optimizer that uses it.
  """
  names = [n for n, kind in config_lib.sweep_settings().items() if kind == "list"]
  last = [n for n in names if n == "learning_rate"
          or config_lib.FIELDS[n].metadata.get("optimizer_default") is not None]
  names = [n for n in names if n not in last] + last
  lists = {n: list(values.get(n) or [None]) for n in names}
  for n in last:
    if n != "learning_rate" and values.get(n):
      users = [o for o in lists["optimizer"] if n in optim.OPTIMIZERS[o].hyperparameters]
      if not users:
        raise ValueError(f"--{n} is expected only with an --optimizer that uses it; received "
                         f"--optimizer={','.join(lists['optimizer'])}.")
  rest = {n: v for n, v in lists.items() if n != "arch"}
  configs, seen = [], set()
  for arch in lists["arch"]:
    for widths in [()] if arch in FIXED_SHAPES else (list(hidden) or [()]):
      for combo in itertools.product(*rest.values()):
        kwargs = {k: v for k, v in zip(rest, combo) if v is not None}
        for n in last:  # a hyperparameter of other optimizers: the configuration has none
          if n != "learning_rate" and n not in optim.OPTIMIZERS[
              kwargs["optimizer"]].hyperparameters:
            kwargs.pop(n, None)
        config = config_lib.check(config_lib.Config(
            arch=arch, hidden=tuple(widths), steps=steps, log_every=steps, image_every=0,
            **kwargs))
        # The network, not its arch's name: nn and deep of the same widths are one.
        key = (config.shape, *config_lib.name_parts(config, seed=False)[1:])
        if key not in seen:
          seen.add(key)
          configs.append(config)
  return configs


def config_name(config):
  """The configuration's directory name, e.g. 'nn-2-2-1-sigmoid-sgd-lr5-bce-uniform'."""
  return "-".join(config_lib.name_parts(config, seed=False))


def seed_name(seed, seeds):
  """'seed007' for seed 7 of seeds up to 100-999: zero-padded so the runs sort by seed."""
  return f"seed{seed:0{len(str(max(seeds)))}d}"


def default_sweep_name():
  return f"sweep-{datetime.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def check_logdir(logdir):
  """Local paths are checked as xor_tf.train checks them; URLs (gs://...) when first written."""
  if not logdir:
    raise ValueError("--logdir expects a directory path; received ''.")
  if "://" not in logdir:
    rundir.check_logdir(logdir)


# ---------------------------------------------------------------------------------------------
# Running the grid. TensorFlow is imported inside these functions: the flag checks above must
# answer before it loads.


def create_sweep_dir(logdir, name):
  """Creates logdir/name with tf.io.gfile; never an existing one.

  Raises:
    FileExistsError: if it exists (an earlier sweep of that name).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(logdir, name)
  if tf.io.gfile.exists(path):
    raise FileExistsError(path)
  tf.io.gfile.makedirs(logdir)
  if "://" in path:
    tf.io.gfile.mkdir(path)  # buckets have no atomic mkdir; the random suffix keeps names apart
  else:
    os.mkdir(path)  # atomic (tf.io.gfile.mkdir is not): a concurrent sweep of this name fails
  return path


def hparams_of(configs, seeds, trials):
  """The HParam and Metric declarations of the experiment, for hparams_config."""
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top

  values = {}
  for c in configs:
    for name, value in hparam_values(c).items():
      values.setdefault(name, set()).add(value)
  hparams = [hp.HParam(name, hp.Discrete(sorted(v))) for name, v in values.items()]
  if trials == "seed":
    hparams.append(hp.HParam("seed", hp.IntInterval(min(seeds), max(seeds))))
    metrics = [hp.Metric(tag, description=TRIAL_METRICS[tag]) for tag in TRIAL_METRICS]
  else:
    metrics = [hp.Metric(tag, description=CENSUS_METRICS[tag]) for tag in CENSUS_METRICS]
  return hparams, metrics


TRIAL_METRICS = {
    "final_loss": "Loss after the last step (not written if the loss became non-finite).",
    "final_accuracy": "Fraction of the four XOR points right after the last step (not written "
                      "if the loss became non-finite).",
    "steps_to_solve": "First step at which all four points were right (not written if never).",
    "diverged": "1 if the loss became NaN or infinite (the network diverged), else 0.",
}
CENSUS_METRICS = {
    "census/fraction_solved": "Fraction of the seeds with all four points right at the end.",
    "census/median_steps_to_solve": "Median first step with all four points right, over the "
                                    "seeds that solve XOR (not written if none does).",
    "census/fraction_diverged": "Fraction of the seeds whose loss became NaN or infinite.",
}


def hparam_values(config):
  """The configuration's hparams, as the settings declare them (`config_lib.hparams`)."""
  return config_lib.hparams(config)


def write_census(config_dir, census, trials, trial_id):
  """The configuration's run: census scalars and its Markdown table (and hparams if a trial)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top

  step = census.config.steps
  values = {"census/fraction_solved": census.fraction_solved,
            "census/median_steps_to_solve": census.median_steps,
            "census/fraction_diverged": census.fraction_diverged}
  writer = tf.summary.create_file_writer(config_dir)
  with writer.as_default():
    if trials == "config":
      hp.hparams(hparam_values(census.config), trial_id=trial_id)
    for tag, value in values.items():
      if math.isfinite(value):
        tf.summary.scalar(tag, value, step=step, description=CENSUS_METRICS[tag])
    tf.summary.text("census", ensemble.census_table([census]) + "\n\n" + failures_markdown(census),
                    step=step)
  writer.close()


def failures_markdown(census):
  """The failure groups of one census with their seeds, as a Markdown table."""
  if not census.failures:
    return "No unsolved seed with a finite loss."
  rows = ["| final loss | seeds | where | which seeds |", "|---|---|---|---|"]
  for f in census.failures:
    shown = ", ".join(map(str, f.seeds[:20])) + (" …" if len(f.seeds) > 20 else "")
    rows.append(f"| {f.loss:.4g} | {f.count} | {f.plateau or '—'} | {shown} |")
  return "\n".join(rows)


def write_trials(config_dir, results, trial_prefix):
  """One HParams trial per seed: a run directory with its hparams and metrics."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top

  step = results.config.steps
  base = hparam_values(results.config)
  seeds = [int(s) for s in results.seeds]
  for m, seed in enumerate(seeds):
    name = seed_name(seed, seeds)
    writer = tf.summary.create_file_writer(os.path.join(config_dir, name))
    with writer.as_default():
      hp.hparams(dict(base, seed=seed), trial_id=f"{trial_prefix}/{name}")
      diverged = bool(results.diverged[m])
      tf.summary.scalar("diverged", float(diverged), step=step)
      if not diverged:  # a NaN would break sorting in the dashboard; absent reads as blank
        tf.summary.scalar("final_loss", float(results.loss[m]), step=step)
        tf.summary.scalar("final_accuracy", float(results.accuracy[m]), step=step)
      if results.solved_step[m] >= 0:
        tf.summary.scalar("steps_to_solve", int(results.solved_step[m]), step=step)
    writer.close()


class Progress:
  """Prints one line per configuration, and on a terminal the running step of a long one."""

  def __init__(self, total, out):
    self.total, self.out = total, out
    self.live = hasattr(out, "isatty") and out.isatty()
    self.start = time.perf_counter()
    self.done = 0

  def chunk(self, index, name, steps):
    def on_chunk(step, solved):
      if self.live and step < steps:
        self.out.write(f"\r[{index}/{self.total}] {name}: step {step}/{steps}, "
                       f"{solved} solved so far{self._eta()}\033[K")
        self.out.flush()
    return on_chunk

  def finished(self, index, census, seconds):
    self.done += 1
    median = "—" if math.isnan(census.median_steps) else f"{census.median_steps:g}"
    from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
    line = (f"[{index}/{self.total}] {ensemble.describe(census.config)}: solved "
            f"{census.solved}/{census.seeds}, median steps {median}, diverged "
            f"{census.diverged}, stuck: {ensemble.failures_text(census, limit=2)} "
            f"({seconds:.1f} s{self._eta()})")
    self.out.write(("\r" if self.live else "") + line + ("\033[K" if self.live else "") + "\n")
    self.out.flush()

  def _eta(self):
    if not self.done or self.done == self.total:
      return ""
    left = (time.perf_counter() - self.start) / self.done * (self.total - self.done)
    return f", ~{left:.0f} s left"


def run(configs, seeds, *, logdir, sweep_name=None, trials="seed", strategy=None,
        flag_lines=(), out=sys.stdout):
  """Trains every configuration over `seeds` as one ensemble each and logs the sweep.

  Args:
    configs: checked `Config`s of hand-built archs (`grid` makes them).
    seeds: the seeds each configuration trains.
    logdir: directory (tf.io.gfile path) that holds sweep directories.
    sweep_name: this sweep's directory name; default: 'sweep-' + timestamp + random suffix.
    trials: 'seed', 'config' or 'none': what one HParams trial is (see --trials).
    strategy: a tf.distribute strategy to split the seeds over, or None (one device).
    flag_lines: the sweep's flags, saved as <sweep>/flags.txt.
    out: where progress and the census table go.

  Returns:
    (censuses, sweep directory or None on a non-chief worker). A configuration whose
    networks diverge is recorded as such; the sweep goes on.

  Raises:
    FileExistsError: if sweep_name names an existing directory.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top

  chief = strategy is None or ensemble.is_chief(strategy)
  if not chief:
    out.write(f"{PROG}: this worker trains its slices of the seeds; the chief prints and "
              "writes the sweep.\n")
    out = io.StringIO()  # the chief reports
  sweep_dir = None
  if chief:
    sweep_dir = create_sweep_dir(logdir, sweep_name or default_sweep_name())
    with tf.io.gfile.GFile(os.path.join(sweep_dir, rundir.FLAGS_FILE), "w") as f:
      f.write(f"# Repeat this sweep (into a new directory): python -m {PROG} "
              f"--flagfile={os.path.join(sweep_dir, rundir.FLAGS_FILE)}\n")
      f.write("".join(line + "\n" for line in flag_lines))
    root = tf.summary.create_file_writer(sweep_dir)
    if trials != "none":
      with root.as_default():
        hp.hparams_config(*hparams_of(configs, seeds, trials))
      root.flush()
  networks = len(configs) * len(seeds)
  out.write(f"{PROG}: {len(configs)} configurations x {len(seeds)} seeds = {networks} networks, "
            f"{configs[0].steps} steps each"
            + (f", {strategy.num_replicas_in_sync} replicas" if strategy else "")
            + (f"\nsweep directory: {sweep_dir}\n" if sweep_dir else "\n"))
  if trials == "seed" and networks > 10_000:
    out.write(f"note: {networks} HParams trials, one run directory each, are slow for "
              "TensorBoard to load; --trials=config writes one per configuration.\n")
  progress = Progress(len(configs), out)
  censuses = []
  for i, config in enumerate(configs, 1):
    name = config_name(config)
    before = time.perf_counter()
    results = ensemble.train(config, seeds, strategy=strategy,
                             on_chunk=progress.chunk(i, name, config.steps))
    census = ensemble.census(results)
    censuses.append(census)
    if chief:
      config_dir = os.path.join(sweep_dir, name)
      write_census(config_dir, census, trials, trial_id=name)
      if trials == "seed":
        write_trials(config_dir, results, trial_prefix=name)
    progress.finished(i, census, time.perf_counter() - before)
  table = ensemble.census_table(censuses)
  out.write("\n" + table + "\n")
  if chief:
    with root.as_default():
      tf.summary.text("census", table, step=0)
    root.close()
    out.write(f"\nsweep directory: {sweep_dir}\nsee it: tensorboard --logdir {sweep_dir} "
              "(HParams, Scalars and Text dashboards)\n")
  out.flush()
  return censuses, sweep_dir


# ---------------------------------------------------------------------------------------------
# The command line.


def fail(message, status=2):
  cli.fail(PROG, message, status)


parse_flags = cli.flags_parser(PROG)


def configs_from_flags():
  """The grid and seeds the flags describe (no TensorFlow). Raises ValueError, one line."""
  values = {}
  for name, kind in config_lib.sweep_settings().items():
    if kind != "list":
      continue
    given = getattr(_FLAGS, name).value
    choices = config_lib.FIELDS[name].metadata.get("choices")
    if choices:
      check_choices(name, given, HAND_BUILT if name == "arch" else choices)
      values[name] = given
    else:
      values[name] = parse_numbers(name, given)
  hidden = [config_lib.parse_hidden(h) for h in _FLAGS.hidden.value]
  if any(hidden) and all(a in FIXED_SHAPES for a in _FLAGS.arch.value):
    raise ValueError(f"--hidden is expected with --arch=nn or deep; received --arch="
                     f"{','.join(_FLAGS.arch.value)}, whose shapes are fixed.")
  configs = grid(values, hidden=hidden, steps=_FLAGS.steps.value)
  return configs, parse_seeds(_FLAGS.seeds.value)


def start_tensorflow(cpu_devices, distribute):
  """Imports TensorFlow quietly and returns the strategy of --distribute (None: one device).

  As quiet.import_tensorflow, except that the CPU split and MultiWorkerMirroredStrategy must
  come before TensorFlow initialises its devices.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
  with quiet.native_stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
    if cpu_devices > 1:
      ensemble.split_cpu(cpu_devices)
    strategy = ensemble.make_strategy(distribute)
    tf.config.list_logical_devices()
  return strategy


def exists_message(error):
  return (f"sweep directory {str(error)!r} exists already; sweeps are never overwritten, so "
          "choose another --sweep_name (expected a new name).")


def main(argv):
  del argv
  try:
    configs, seeds = configs_from_flags()
    check_logdir(_FLAGS.logdir.value)
    if _FLAGS.sweep_name.value is not None:
      config_lib.check_run_name(_FLAGS.sweep_name.value)
      path = os.path.join(_FLAGS.logdir.value, _FLAGS.sweep_name.value)
      if "://" not in path and os.path.lexists(path):
        raise FileExistsError(path)
    if _FLAGS.distribute.value == "multi_worker" and not os.environ.get("TF_CONFIG"):
      raise ValueError("--distribute=multi_worker expects the environment variable TF_CONFIG "
                       "to describe the cluster; received no TF_CONFIG.")
  except ValueError as e:
    fail(str(e).replace("--run_name", "--sweep_name"))
  except FileExistsError as e:
    fail(exists_message(e))
  logging.set_verbosity(logging.WARNING)
  strategy = start_tensorflow(_FLAGS.cpu_devices.value, _FLAGS.distribute.value)
  # Every sweep setting and the sweep's own flags; not --sweep_name: a repeat gets a new one.
  saved = [n for n, kind in config_lib.sweep_settings().items() if kind != "hidden"] + [
      "seeds", "logdir", "trials", "distribute", "cpu_devices"]
  flag_lines = [f"--{name}={value if not isinstance(value, list) else ','.join(value)}"
                for name, value in ((n, getattr(_FLAGS, n).value) for n in saved)]
  flag_lines += [f"--hidden={h}" for h in _FLAGS.hidden.value]
  try:
    run(configs, seeds, logdir=_FLAGS.logdir.value, sweep_name=_FLAGS.sweep_name.value,
        trials=_FLAGS.trials.value, strategy=strategy, flag_lines=flag_lines)
  except FileExistsError as e:  # another sweep took the name since the check above
    fail(exists_message(e))


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(main, flags_parser=parse_flags)
