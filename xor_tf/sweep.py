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
                            hparams (seed included) and metrics solved, steps_to_solve,
                            final_loss, final_accuracy, diverged, every one written for every
                            trial, stuck and diverged ones too (HParams draws a trial only if
                            it has them all); and its curves `loss` and `accuracy`, the tags of
                            `xor_tf.train --seed=7`, at that run's default picture steps (0, 10,
                            20, 30, 50, 70, 100, 200, ... and the last), finite like the metrics
                            (a diverged network: 3.4e38 and 0 from the step it diverged at on)

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
A task that has not started within --cluster_timeout, or that dies mid-sweep, is named in one
line.

Seeds train in slices of bounded memory, and each finished slice's per-seed results are saved
at once (<sweep>/results/). Ctrl-C or SIGTERM on any worker stops every worker at the next
chunk: the chief writes the census of what finished and prints the command that continues it,
`python -m xor_tf.sweep --resume=<sweep>`, which reads back what is saved instead of training
it again.
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
from xor_tf import tags

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

  f.resume = flags.DEFINE_string(
      "resume", None,
      "Continue the sweep in this sweep directory (one that stopped: Ctrl-C, SIGTERM, a lost "
      "worker, a full disk) with the flags saved in its flags.txt: configurations and slices of "
      "seeds whose results it holds are read back, not trained again, and its event files come "
      "out as if the sweep had run straight through. Only --distribute, --cpu_devices, "
      "--cluster_timeout and --seeds_per_slice may be given beside it.")
  f.cluster_timeout = flags.DEFINE_float(
      "cluster_timeout", 300,
      "With TF_CONFIG (multi_worker): seconds to wait for every task of the cluster to start; a "
      "task still missing then is named in a one-line error. Ctrl-C or SIGTERM stop the wait.")
  f.seeds_per_slice = flags.DEFINE_integer(
      "seeds_per_slice", 0,
      "Seeds trained at a time; each finished slice's per-seed results are saved at once, so "
      "memory stays bounded and --resume loses at most one slice. 0: about "
      f"{PARAMS_PER_SLICE:,} weights a slice (116,508 seeds of 2-2-1, 4,017 of 2-10-10-10-1).")

  flags.register_validator("cluster_timeout", lambda v: v is not None and v > 0,
                           message="expected a number of seconds > 0")
  flags.register_validator("seeds_per_slice", lambda v: v is not None and v >= 0,
                           message="expected an integer >= 0")
  flags.register_validator("steps", lambda v: v is not None and v > 0,
                           message="expected an integer > 0")
  flags.register_validator("cpu_devices", lambda v: v is not None and v > 0,
                           message="expected an integer > 0")
  return f


MAX_SEED = 2**63 - 1  # seeds are int64 in the stateless random ops


def seed_ranges(text):
  """Parses '0-99,200,300-309' into sorted, merged (lo, hi) ranges, hi included; no seed list.

  Raises:
    ValueError: with a one-line message if a part is not a seed 0..2**63-1 or a range lo-hi,
      lo <= hi.
  """
  ranges = []
  for part in str(text).split(","):
    lo, sep, hi = part.strip().partition("-")
    if (not re.fullmatch(r"[0-9]+", lo) or (sep and not re.fullmatch(r"[0-9]+", hi))
        or (sep and int(hi) < int(lo))):
      raise ValueError("--seeds expects seeds >= 0 and ranges lo-hi separated by commas, such "
                       f"as 0-99 or 0-9,42; received {text!r}.")
    lo, hi = int(lo), int(hi if sep else lo)
    if hi > MAX_SEED:
      raise ValueError(f"--seeds expects seeds from 0 to {MAX_SEED} (64-bit); received "
                       f"{text!r}.")
    ranges.append((lo, hi))
  merged = []
  for lo, hi in sorted(ranges):
    if merged and lo <= merged[-1][1] + 1:
      merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
    else:
      merged.append((lo, hi))
  return merged


def count_seeds(ranges):
  return sum(hi - lo + 1 for lo, hi in ranges)


def seed_array(ranges):
  """The seeds of `seed_ranges`, sorted, as an int64 array (8 bytes a seed)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.concatenate([np.arange(lo, hi + 1, dtype=np.int64) for lo, hi in ranges])


def parse_seeds(text):
  """Parses '0-99,200,300-309' into a sorted list of distinct seeds.

  Raises:
    ValueError: with a one-line message if a part is not a seed >= 0 or a range lo-hi, lo <= hi.
  """
  return [int(s) for s in seed_array(seed_ranges(text))]


# Memory. Training goes slice by slice (about PARAMS_PER_SLICE weights at a time, whatever the
# number of seeds) and each slice's per-seed results go to disk at once; but a configuration's
# census (ensemble.census: solved fraction, median, failure groups with their seeds) is
# computed over all its seeds in memory. CENSUS_BYTES_PER_SEED bounds what that takes (per-seed
# arrays read back, 48 bytes: CENSUS_FIELDS, not the curves; and the census' sorting and seed
# lists; measured peak for 10^6 seeds of 2-2-1 in the README), TENSORFLOW_BYTES what
# TensorFlow and one slice take.
PARAMS_PER_SLICE = 2**20
CENSUS_BYTES_PER_SEED = 256
TENSORFLOW_BYTES = 3 * 2**30


def memory_available():
  """Bytes this process may still use: the least of free memory, a cgroup limit and ulimits."""
  import resource  # pylint: disable=g-import-not-at-top
  limits = []
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          limits.append(int(line.split()[1]) * 1024)
  except OSError:
    pass
  for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                  "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
    try:
      with open(limit_file, encoding="ascii") as f, open(usage_file, encoding="ascii") as g:
        limit, usage = f.read().strip(), g.read().strip()
      if limit.isdigit() and int(limit) < 2**60:
        limits.append(int(limit) - int(usage))
    except OSError:
      pass
  for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
    soft, _ = resource.getrlimit(which)
    if soft != resource.RLIM_INFINITY:
      limits.append(soft - 2 * TENSORFLOW_BYTES)  # TensorFlow reserves much address space
  return min(limits) if limits else 2**63


def largest_seed_count(available=None):
  """How many seeds a configuration's census can hold in the memory this process has."""
  available = memory_available() if available is None else available
  return max(0, (available - TENSORFLOW_BYTES) // CENSUS_BYTES_PER_SEED)


def check_seed_count(count, available=None):
  """Raises ValueError (one line) if `count` seeds' census would not fit in memory."""
  available = memory_available() if available is None else available
  largest = largest_seed_count(available)
  if count > largest:
    raise ValueError(
        f"--seeds expects at most {largest} seeds here (the census of a configuration holds "
        f"~{CENSUS_BYTES_PER_SEED} bytes a seed in the {available / 2**30:.1f} GiB this "
        f"process may use); received {count} seeds. Sweep them in parts (--seeds=lo-hi).")


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
  # A setting not given takes its default; None where that depends on others (Config).
  lists = {n: list(values.get(n) or [None if n in last else getattr(_DEFAULTS, n)])
           for n in names}
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
        # The network, not its arch's name: nn and deep of the same widths are one; and the
        # values themselves, not their printed names (-0.0 is 0.0).
        key = (config.shape, *sorted((k, v + 0.0 if isinstance(v, float) else v)
                                     for k, v in config_lib.hparams(config).items()
                                     if k not in ("arch", "shape")))
        if key not in seen:
          seen.add(key)
          configs.append(config)
  names = {}
  for config in configs:  # two configurations must not share a directory
    other = names.setdefault(config_name(config), config)
    if other is not config:
      raise ValueError(f"the sweep's configurations are expected to have distinct names; "
                       f"received two named {config_name(config)!r} (values that print alike "
                       f"to 6 digits: {other.hyperparameters} and {config.hyperparameters}).")
  return configs


def config_name(config):
  """The configuration's directory name, e.g. 'nn-2-2-1-sigmoid-sgd-lr5-bce-uniform'."""
  return "-".join(config_lib.name_parts(config, seed=False))


def seed_name(seed, largest):
  """'seed007' for seed 7 when the largest seed has 3 digits: zero-padded so runs sort by seed."""
  return f"seed{int(seed):0{len(str(int(largest)))}d}"


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


# ---------------------------------------------------------------------------------------------
# HParams. TensorBoard's HParams dashboard draws a trial in its parallel coordinates and scatter
# matrix only if the trial has a value in every column shown, so every trial gets every metric:
# a stuck network a censored steps_to_solve, a diverged one a final loss and accuracy. Which
# columns show by default is TensorBoard's choice: the first five hparams after sorting those
# marked `differs` first, then by name, and the first five metrics, the first of which colours
# the lines (blue its least value, red its greatest). Every numeric axis starts linear: neither
# the Experiment proto nor the dashboard has a default log scale (a user can switch a column to
# "Logarithmic" in its options), hence the log10_learning_rate column.

# A diverged network's loss is NaN or infinite, which the dashboard cannot place on an axis: it
# is written as the largest float32, past every finite loss.
DIVERGED_LOSS = 3.4028234663852886e38


def trial_metrics(steps):
  """{tag: description} of a seed's trial, in the dashboard's column order, for `steps` steps."""
  return {
      "solved": "1 if all four XOR points are right after the last step (XOR solved), else 0. "
                "It colours the parallel coordinates: red solved, blue not.",
      "steps_to_solve": f"First step at which all four points were right; {steps + 1} (the "
                        f"{steps} steps trained, plus one: not within them) for a network that "
                        "never got there, so that stuck networks stay in every view.",
      "final_loss": "Loss after the last step; ln 2 = 0.693 is every point at 0.5, ln 2 / 2 = "
                    "0.347 two points at 0.5. A network whose loss became NaN or infinite "
                    f"(diverged 1) shows {DIVERGED_LOSS:.4g}, the largest float32.",
      "final_accuracy": "Fraction of the four XOR points right after the last step; 0 for a "
                        "diverged network, whose outputs are NaN (a NaN labels no point).",
      "diverged": "1 if the loss became NaN or infinite (the network diverged), else 0.",
      # The curves (`write_trials`): HParams shows a trial's metrics over its steps when the
      # trial is clicked, so a curve is one only if it is a metric.
      tags.LOSS: "The loss curve, as `python -m xor_tf.train` logs it for this seed, at 0, 10, "
                 "20, 30, 50, 70, 100, 200, ... and the last step; its value here is the last, "
                 "the final loss. Show this column and click a trial (table view) to see the "
                 f"curve: where a stuck network stalls. {DIVERGED_LOSS:.4g} from the step a "
                 "network diverged at on.",
      tags.ACCURACY: "The accuracy curve, at the loss curve's steps; its value here is the "
                     "last. 0 from the step a network diverged at on.",
  }


def census_metrics(steps):
  """{tag: description} of a configuration's census (its trial with --trials=config)."""
  return {
      "census/fraction_solved": "Fraction of the seeds with all four points right at the end.",
      "census/median_steps_to_solve": "Median first step with all four points right, over the "
                                      f"seeds that solve XOR; {steps + 1} (the {steps} steps "
                                      "trained, plus one) if none does.",
      "census/fraction_diverged": "Fraction of the seeds whose loss became NaN or infinite.",
  }


HPARAM_DESCRIPTIONS = {
    "shape": "The network's layer widths, from the 2 inputs to the 1 output.",
    "log10_learning_rate": "log10 of learning_rate (-2 is 0.01): spreads learning rates that "
                           "span decades evenly on TensorBoard's linear axes.",
    "seed": "Seed of the initial weights: `python -m xor_tf.train --seed=<seed>` with this "
            "trial's settings trains this very network.",
}


def hparam_values(config):
  """The configuration's hparams, as the settings declare them (`config_lib.hparams`), and the
  log10 of its learning rate."""
  values = config_lib.hparams(config)
  values["log10_learning_rate"] = round(math.log10(config.learning_rate), 4)
  return values


def hparams_of(configs, seeds, trials):
  """The HParam and Metric declarations of the experiment, for hparams_config."""
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top

  values = {}
  for c in configs:
    for name, value in hparam_values(c).items():
      values.setdefault(name, set()).add(value)
  hparams = [hp.HParam(name, hp.Discrete(sorted(v)), description=_hparam_description(name))
             for name, v in values.items()]
  steps = configs[0].steps  # one value for the whole sweep (config.setting sweep='one')
  if trials == "seed":
    hparams.append(hp.HParam("seed", hp.IntInterval(int(min(seeds)), int(max(seeds))),
                             description=HPARAM_DESCRIPTIONS["seed"]))
    metrics = trial_metrics(steps)
  else:
    metrics = census_metrics(steps)
  return hparams, [hp.Metric(tag, description=text) for tag, text in metrics.items()]


def _hparam_description(name):
  if name in HPARAM_DESCRIPTIONS:
    return HPARAM_DESCRIPTIONS[name]
  return config_lib.FIELDS[name].metadata["help"]


def hp_config(configs, seeds, trials):
  """Writes the HParams experiment, each hparam that takes several values marked as differing.

  TensorBoard shows the first five hparams by default, those marked `differs` first (then by
  name), and marks none of a written experiment: unmarked, the seed would sort after five
  constant settings and be hidden.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import plugin_data_pb2  # pylint: disable=g-import-not-at-top

  hparams, metrics = hparams_of(configs, seeds, trials)
  summary = hp.hparams_config_pb(hparams, metrics)
  plugin_data = summary.value[0].metadata.plugin_data
  data = plugin_data_pb2.HParamsPluginData.FromString(plugin_data.content)
  for info, hparam in zip(data.experiment.hparam_infos, hparams):
    domain = hparam.domain
    info.differs = (len(domain.values) > 1 if isinstance(domain, hp.Discrete)
                    else domain.min_value < domain.max_value)
  plugin_data.content = data.SerializeToString()
  tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=0)


def trial_names(configs):
  """{config_name: what its trials are called}: the name parts that differ across the sweep.

  E.g. 'tanh-lr0.5' for 'nn-2-2-1-tanh-sgd-lr0.5-bce-uniform' in a sweep of activations and
  learning rates, so that HParams' trial column (10em wide, about 16 characters) shows what
  tells the trials apart; an architecture by its name alone ('deep', not 'deep-2-10-10-10-1')
  unless the sweep has several shapes of it (--hidden); '' for every configuration when the
  sweep has one.
  """
  named = [f for f in config_lib.FIELDS.values()
           if f.metadata.get("name") is not None and f.name != "seed"]
  shapes = {}
  for c in configs:
    shapes.setdefault(c.arch, set()).add(c.shape)
  arch_alone = all(len(s) == 1 for s in shapes.values())  # the shape column tells the rest

  def part(field, c):
    if getattr(c, field.name) is None:
      return None
    return c.arch if field.name == "arch" and arch_alone else field.metadata["name"](c)

  parts = [[part(f, c) for f in named] for c in configs]
  varying = [i for i in range(len(named)) if len({p[i] for p in parts}) > 1]
  names = {config_name(c): "-".join(p[i] for i in varying if p[i] is not None)
           for c, p in zip(configs, parts)}
  if len(set(names.values())) < len(names):  # cannot happen for a grid's distinct names
    return {name: name for name in names}
  return names


def trial_id_of(short, seed=None, largest_seed=None):
  """A trial's id in HParams: 'tanh-lr0.5/seed07' (a seed's trial), 'tanh-lr0.5' (a
  configuration's), 'seed07' when the sweep has one configuration."""
  if seed is None:
    return short
  name = seed_name(seed, largest_seed)
  return f"{short}/{name}" if short else name


def write_census(config_dir, census, trials, trial_id):
  """The configuration's run: census scalars and its Markdown table (and hparams if a trial)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top

  step = census.config.steps
  median = census.median_steps if math.isfinite(census.median_steps) else step + 1
  values = {"census/fraction_solved": census.fraction_solved,
            "census/median_steps_to_solve": median,
            "census/fraction_diverged": census.fraction_diverged}
  descriptions = census_metrics(step)
  writer = tf.summary.create_file_writer(config_dir)
  with writer.as_default():
    if trials == "config":
      hp.hparams(hparam_values(census.config), trial_id=trial_id)
    for tag, value in values.items():
      tf.summary.scalar(tag, value, step=step, description=descriptions[tag])
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


def trial_metric_values(results, m):
  """{tag: value} of seed m's trial at its last step: every metric of `trial_metrics` but the
  curves (`trial_curves`), finite, for every seed."""
  steps = results.config.steps
  diverged = bool(results.diverged[m])
  solved_step = int(results.solved_step[m])
  return {
      "solved": float(bool(results.solved[m])),
      "steps_to_solve": float(solved_step if solved_step >= 0 else steps + 1),
      "final_loss": DIVERGED_LOSS if diverged else float(results.loss[m]),
      "final_accuracy": 0.0 if diverged else float(results.accuracy[m]),
      "diverged": float(diverged),
  }


def trial_curves(results):
  """Every seed's loss and accuracy curve as a trial writes them: finite, like its metrics.

  From the step a network diverged at on (its loss NaN or infinite), the loss is DIVERGED_LOSS
  and the accuracy 0, as `trial_metric_values` gives its final_loss and final_accuracy: the
  curve shoots to the top of the chart there instead of stopping (TensorBoard's charts break
  on NaN), and its last point is the trial's final_loss.

  Returns:
    (steps int64 [K], loss float32 [M, K], accuracy float32 [M, K]).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  loss, accuracy = results.curve_loss, results.curve_accuracy
  gone = ~np.isfinite(loss)
  return (np.asarray(results.curve_steps, np.int64),
          np.where(gone, np.float32(DIVERGED_LOSS), loss).astype(np.float32),
          np.where(gone | ~np.isfinite(accuracy), np.float32(0), accuracy).astype(np.float32))


def write_trials(config_dir, results, short_name, largest_seed):
  """One HParams trial per seed: a run directory with its hparams, every metric, and its loss
  and accuracy curves (tags.LOSS, tags.ACCURACY, as a single run) at results.curve_steps."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  from xor_tf import summaries  # pylint: disable=g-import-not-at-top

  step = results.config.steps
  base = hparam_values(results.config)
  steps, losses, accuracies = trial_curves(results)
  described = {tag: tags.description(tag) for tag in (tags.LOSS, tags.ACCURACY)}
  for m, seed in enumerate(int(s) for s in results.seeds):
    writer = tf.summary.create_file_writer(
        os.path.join(config_dir, seed_name(seed, largest_seed)))
    with writer.as_default():
      hp.hparams(dict(base, seed=seed), trial_id=trial_id_of(short_name, seed, largest_seed))
    curves = [(tag, int(s), float(v), described[tag])
              for s, *values in zip(steps, losses[m], accuracies[m])
              for tag, v in zip(described, values)]
    # The metrics are described in hp_config.
    metrics = [(tag, step, value, "") for tag, value in trial_metric_values(results, m).items()]
    summaries.write_scalars(writer, curves + metrics)
    writer.close()


class Progress:
  """Prints one line per configuration, and on a terminal the running step of a long one."""

  def __init__(self, total, out):
    self.total, self.out = total, out
    self.live = hasattr(out, "isatty") and out.isatty()
    self.start = time.perf_counter()
    self.done = 0

  def chunk(self, index, name, steps, seeds_done=0, seeds=0):
    def on_chunk(step, solved):
      if self.live and step < steps:
        part = f" (seeds {seeds_done + 1}-{seeds_done + seeds})" if seeds_done else ""
        self.out.write(f"\r[{index}/{self.total}] {name}{part}: step {step}/{steps}, "
                       f"{solved} solved so far{self._eta()}\033[K")
        self.out.flush()
    return on_chunk

  def finished(self, index, census, seconds, note=""):
    self.done += 1
    median = "—" if math.isnan(census.median_steps) else f"{census.median_steps:g}"
    from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
    line = (f"[{index}/{self.total}] {ensemble.describe(census.config)}: solved "
            f"{census.solved}/{census.seeds}, median steps {median}, diverged "
            f"{census.diverged}, stuck: {ensemble.failures_text(census, limit=2)} "
            f"({note or f'{seconds:.1f} s'}{self._eta()})")
    self.out.write(("\r" if self.live else "") + line + ("\033[K" if self.live else "") + "\n")
    self.out.flush()

  def _eta(self):
    if not self.done or self.done == self.total:
      return ""
    left = (time.perf_counter() - self.start) / self.done * (self.total - self.done)
    return f", ~{left:.0f} s left"


# ---------------------------------------------------------------------------------------------
# Results on disk. Each slice of a configuration's seeds that finishes is saved at once as
# <sweep>/results/<config>/seeds-<first>-<end>.npz (positions in the sweep's sorted seeds, end
# excluded; numpy arrays seeds, loss, accuracy, solved_step, diverged_step, probabilities,
# curve_loss, curve_accuracy and curve_steps),
# after its trials' run directories; a configuration whose census is written gets
# <sweep>/results/<config>/done. That is what --resume reads back instead of training again.
# (Beside the runs, not in them: TensorBoard sees no event file there.)

RESULTS = "results"
DONE = "done"
SLICE_FIELDS = ("seeds", "loss", "accuracy", "solved_step", "diverged_step", "probabilities",
                "curve_loss", "curve_accuracy")  # per seed: concatenated over slices
SLICE_STEPS = "curve_steps"  # the curves' steps, one array for all the slice's seeds
# What a configuration's census reads back: not the curves (8 bytes a seed and curve step).
CENSUS_FIELDS = SLICE_FIELDS[:6]
_SLICE_FILE = re.compile(r"seeds-(\d+)-(\d+)\.npz")


def results_dir(sweep_dir, name):
  return os.path.join(sweep_dir, RESULTS, name)


def slice_path(folder, lo, hi):
  return os.path.join(folder, f"seeds-{lo:012d}-{hi:012d}.npz")


def on_disk(folder):
  """(whether the configuration is done, [(lo, hi)] of its slices on disk, sorted)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not tf.io.gfile.isdir(folder):
    return False, []
  names = tf.io.gfile.listdir(folder)
  spans = sorted((int(m.group(1)), int(m.group(2)))
                 for m in map(_SLICE_FILE.fullmatch, names) if m)
  return DONE in names, spans


def save_slice(path, results):
  """Writes one slice's per-seed arrays; a temporary name first, so a file there is whole."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  np.savez(buffer, **{k: np.asarray(getattr(results, k))
                      for k in SLICE_FIELDS + (SLICE_STEPS,)})
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path + ".partial", "wb") as f:
    f.write(buffer.getvalue())
  tf.io.gfile.rename(path + ".partial", path, overwrite=True)


def load_slice(path, fields=SLICE_FIELDS + (SLICE_STEPS,)):
  """{field: array} of a saved slice, for the `fields` it holds (a slice saved before the
  curves were has none)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.io.gfile.GFile(path, "rb") as f:
    with np.load(io.BytesIO(f.read())) as npz:
      return {k: npz[k] for k in fields if k in npz.files}


def combined(config, parts):
  """One `ensemble.Results` from per-slice arrays in seed order (timings: 0), with the curves
  if every part has them."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  fields = [k for k in SLICE_FIELDS + (SLICE_STEPS,) if all(k in p for p in parts)]
  arrays = {k: parts[0][k] if k == SLICE_STEPS else np.concatenate([p[k] for p in parts])
            for k in fields}
  rest = {f.name: 0 for f in dataclasses.fields(ensemble.Results)  # timings
          if f.name not in arrays and f.name != "config"
          and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
  return ensemble.Results(config=config, **arrays, **rest)


def to_train(count, have, per_slice):
  """The (lo, hi) slices of positions 0..count not covered by `have`, each <= per_slice long."""
  spans, at = [], 0
  for lo, hi in sorted(have) + [(count, count)]:
    for start in range(at, lo, per_slice):
      spans.append((start, min(start + per_slice, lo)))
    at = max(at, hi)
  return spans


def seeds_per_slice(config, replicas=1):
  """About PARAMS_PER_SLICE weights per slice (per replica): memory bounded, whatever the seeds."""
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  size = sum(int(v.shape.num_elements()) for v in ensemble.template(config).params.values())
  return max(1, PARAMS_PER_SLICE // size) * replicas


# A signal is seen between compiled chunks: with few seeds the ensemble's default chunk (about
# a second of work for many seeds) would hold millions of steps, so it is capped.
STOP_CHUNK_STEPS = 10_000


def chunk_steps(config, seeds, replicas=1):
  """Steps per compiled call: the ensemble's default, at most STOP_CHUNK_STEPS."""
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  try:
    default = ensemble.steps_per_chunk(ensemble.template(config), -(-seeds // replicas),
                                       config.steps)
  except AttributeError:  # the ensemble chooses its chunks some other way
    default = config.steps
  return min(default, STOP_CHUNK_STEPS)


def train_slice(config, seeds, **kw):
  """ensemble.train, with a lone seed trained beside a copy of itself.

  XLA compiles a stack of one network differently from a stack of 2 or more, whose results
  agree bit for bit; so a sweep's numbers do not depend on how its seeds were sliced.
  """
  import dataclasses  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  if len(seeds) > 1 or kw.get("strategy") is not None:  # _distributed pads its replicas
    return ensemble.train(config, seeds, **kw)
  results = ensemble.train(config, [seeds[0], seeds[0]], **kw)
  first = {k: getattr(results, k)[:1] for k in SLICE_FIELDS}
  if isinstance(getattr(results, "params", None), dict):  # the final weights, where kept
    first["params"] = {k: v[:1] for k, v in results.params.items()}
  return dataclasses.replace(results, **first)


def remove_events(folder):
  """Deletes the event files directly in `folder` (a run that is about to be written anew)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  for path in tf.io.gfile.glob(os.path.join(folder, "events.out.tfevents.*")):
    tf.io.gfile.remove(path)


def slim(census):
  """The census without its long seed lists, as kept for the final table (memory: per config)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  return dataclasses.replace(census, failures=[dataclasses.replace(f, seeds=f.seeds[:20])
                                               for f in census.failures])


# ---------------------------------------------------------------------------------------------
# Running the grid.


class Stopped(Exception):
  """A signal stopped the sweep at a chunk boundary on every worker."""

  def __init__(self, signum, who=""):
    super().__init__(signum)
    self.signum, self.who = signum, who


class LostWorker(Exception):
  """A worker of the cluster stopped answering; str() is one line."""


class WriteError(Exception):
  """The sweep directory could not be written; str() is one line."""


def _first_line(error):
  text = str(getattr(error, "message", "") or error).strip()
  text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)  # TensorFlow's op, not the cause
  return text.splitlines()[0] if text else type(error).__name__


class _Writes:
  """Turns a failure to write (full disk, lost bucket) into WriteError, one line."""

  def __init__(self, where):
    self.where = where

  def __enter__(self):
    return self

  def __exit__(self, kind, error, tb):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if kind is not None and issubclass(kind, (OSError, tf.errors.OpError)):
      raise WriteError(f"could not write {self.where}: {_first_line(error)}; expected a "
                       "writable directory with room for the sweep.") from None
    return False


def _signal_name(signum):
  import signal  # pylint: disable=g-import-not-at-top
  try:
    return signal.Signals(signum).name
  except ValueError:
    return f"signal {signum}"


class _Sweep:
  """One sweep's state while it runs: where it writes, what is on disk, how it stops."""

  def __init__(self, configs, seeds, *, trials, strategy, stop_signal, per_slice, out):
    import numpy as np  # pylint: disable=g-import-not-at-top
    from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
    self.configs, self.trials, self.strategy = configs, trials, strategy
    self.trial_names = trial_names(configs)
    self.seeds = np.asarray(seeds, np.int64)
    self.largest_seed = int(self.seeds.max())
    self.chief = strategy is None or ensemble.is_chief(strategy)
    self.multi = strategy is not None and ensemble.is_multi_worker(strategy)
    self.replicas = strategy.num_replicas_in_sync if strategy else 1
    self.stop_signal, self.per_slice, self.out = stop_signal, per_slice, out
    self.task_id = (strategy.cluster_resolver.task_id if self.multi else 0)
    self.sweep_dir = None
    self.plan = {}
    self.resuming = False

  def check_stop(self):
    """Raises Stopped if this worker, or any (a collective in a cluster), caught a signal."""
    signum = int(self.stop_signal() or 0)
    if self.multi:
      from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
      # signal * 2**16 + task: the largest tells every worker which signal and where.
      agreed = ensemble.agree(self.strategy, signum * 2**16 + self.task_id if signum else 0)
      signum, task = divmod(agreed, 2**16)
      if signum:
        raise Stopped(signum, who=f"worker {task}" if task != self.task_id else "")
    elif signum:
      raise Stopped(signum)

  def config(self, index, config, progress):
    """Trains what is not on disk of one configuration; returns its census (chief) or None."""
    from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
    name = config_name(config)
    config_dir = os.path.join(self.sweep_dir, name) if self.sweep_dir else None
    saved = results_dir(self.sweep_dir, name) if self.sweep_dir else None
    done, have = self.plan.get(name, (False, []))
    per_slice = self.per_slice or seeds_per_slice(config, self.replicas)
    spans = to_train(len(self.seeds), have, per_slice)
    before = time.perf_counter()
    if self.chief and spans and self.resuming and self.trials == "seed":
      with _Writes(config_dir):  # trials of a slice that was cut short: written anew
        gfile = tf_gfile()
        for lo, hi in spans:
          for seed in self.seeds[lo:hi]:
            trial = os.path.join(config_dir, seed_name(seed, self.largest_seed))
            if gfile.exists(trial):
              gfile.rmtree(trial)
    parts = {}
    for lo, hi in spans:
      self.check_stop()
      results = train_slice(config, self.seeds[lo:hi], strategy=self.strategy,
                            on_chunk=self._on_chunk(progress.chunk(
                                index, name, config.steps, lo, hi - lo)),
                            chunk_steps=chunk_steps(config, hi - lo, self.replicas))
      if self.chief:
        with _Writes(config_dir):
          if self.trials == "seed":
            write_trials(config_dir, results, self.trial_names[name], self.largest_seed)
          save_slice(slice_path(saved, lo, hi), results)
        parts[lo] = {k: getattr(results, k) for k in CENSUS_FIELDS}
    if not self.chief:
      return None
    with _Writes(config_dir):
      for lo, hi in have:
        parts[lo] = load_slice(slice_path(saved, lo, hi), CENSUS_FIELDS)
      census = ensemble.census(combined(config, [parts[lo] for lo in sorted(parts)]))
      del parts
      if not done:
        remove_events(config_dir)  # a census run cut short before `done`
        write_census(config_dir, census, self.trials,
                     trial_id=trial_id_of(self.trial_names[name]) or name)
        with tf_gfile().GFile(os.path.join(saved, DONE), "w") as f:
          f.write("")
    progress.finished(index, census, time.perf_counter() - before,
                      note="" if spans else "read back")
    return slim(census)

  def _on_chunk(self, show):
    def on_chunk(step, solved):
      show(step, solved)
      self.check_stop()
    return on_chunk


def tf_gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def run(configs, seeds, *, logdir=None, sweep_name=None, trials="seed", strategy=None,
        flag_lines=(), out=sys.stdout, resume=None, per_slice=None, stop_signal=None):
  """Trains every configuration over `seeds`, slice by slice, and logs the sweep.

  Args:
    configs: checked `Config`s of hand-built archs (`grid` makes them).
    seeds: the seeds each configuration trains (sorted, distinct).
    logdir: directory (tf.io.gfile path) that holds sweep directories.
    sweep_name: this sweep's directory name; default: 'sweep-' + timestamp + random suffix.
    trials: 'seed', 'config' or 'none': what one HParams trial is (see --trials).
    strategy: a tf.distribute strategy to split the seeds over, or None (one device).
    flag_lines: the sweep's flags, saved as <sweep>/flags.txt.
    out: where progress and the census table go.
    resume: an earlier sweep directory of these configs and seeds to continue instead: what
      it holds is read back, not trained again, and its event files come out as if the sweep
      had run straight through.
    per_slice: seeds trained at a time; default: about PARAMS_PER_SLICE weights.
    stop_signal: called at every chunk boundary; a non-zero signal number stops the sweep.

  Returns:
    (censuses, sweep directory); both None on a worker that is not the chief. A configuration
    whose networks diverge is recorded as such; the sweep goes on.

  Raises:
    FileExistsError: if sweep_name names an existing directory.
    Stopped: after the chief wrote the census of what finished.
    LostWorker: if a worker of the cluster stopped answering (the chief wrote what finished).
    WriteError: if the sweep directory could not be written (a new, empty one is removed).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from xor_tf import cluster  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top

  sweep = _Sweep(configs, seeds, trials=trials, strategy=strategy,
                 stop_signal=stop_signal or (lambda: 0), per_slice=per_slice, out=out)
  if not sweep.chief:
    out.write(f"{PROG}: this worker trains its slices of the seeds; the chief prints and "
              "writes the sweep.\n")
    out.flush()
    out = sweep.out = io.StringIO()  # the chief reports
  if resume:  # every worker reads the plan before any collective, hence before any writing
    sweep.resuming = True
    sweep.plan = {config_name(c): on_disk(results_dir(resume, config_name(c)))
                  for c in configs}
    if sweep.multi:  # workers that skip different slices would pair the wrong collectives
      import zlib  # pylint: disable=g-import-not-at-top
      mine = zlib.crc32(repr(sorted(sweep.plan.items())).encode())
      if ensemble.agree(strategy, mine) != mine or ensemble.agree(strategy, -mine) != -mine:
        raise WriteError(f"the workers see different saved results in {resume}; expected "
                         "every worker to --resume the same sweep directory (a --logdir that "
                         "all of them reach).")
  root = None
  if sweep.chief:
    sweep.sweep_dir = resume or create_sweep_dir(logdir, sweep_name or default_sweep_name())
    try:
      with _Writes(sweep.sweep_dir):
        if resume:
          remove_events(resume)  # the root run is written anew, as if straight through
        else:
          with tf.io.gfile.GFile(os.path.join(sweep.sweep_dir, rundir.FLAGS_FILE), "w") as f:
            f.write(f"# Repeat this sweep (into a new directory): python -m {PROG} "
                    f"--flagfile={os.path.join(sweep.sweep_dir, rundir.FLAGS_FILE)}\n"
                    f"# Continue it if it stopped: python -m {PROG} "
                    f"--resume={sweep.sweep_dir}\n")
            f.write("".join(line + "\n" for line in flag_lines))
        root = tf.summary.create_file_writer(sweep.sweep_dir)
        if trials != "none":
          with root.as_default():
            hp_config(configs, sweep.seeds, trials)
          root.flush()
    except WriteError:
      if not resume:  # nothing of this sweep is worth keeping
        tf.io.gfile.rmtree(sweep.sweep_dir)
      raise
  networks = len(configs) * len(sweep.seeds)
  finished = sum(1 for done, _ in sweep.plan.values() if done)
  out.write(f"{PROG}: {len(configs)} configurations x {len(sweep.seeds)} seeds = {networks} "
            f"networks, {configs[0].steps} steps each"
            + (f", {strategy.num_replicas_in_sync} replicas" if strategy else "")
            + (f"\nsweep directory: {sweep.sweep_dir}" if sweep.sweep_dir else "")
            + (f"\nresuming: {finished} of {len(configs)} configurations finished, the other "
               "configurations' saved slices of seeds are read back" if resume else "") + "\n")
  if trials == "seed" and networks > 10_000:
    out.write(f"note: {networks} HParams trials, one run directory each, are slow for "
              "TensorBoard to load; --trials=config writes one per configuration.\n")
  out.flush()
  progress = Progress(len(configs), out)
  censuses = []
  try:
    for i, config in enumerate(configs, 1):
      censuses.append(sweep.config(i, config, progress))
  except Stopped as e:
    if sweep.chief:
      _write_partial(sweep, root, censuses, out)
      by = f" (caught by {e.who})" if e.who else ""
      out.write(f"\nstopped by {_signal_name(e.signum)}{by}: {len(censuses)} of {len(configs)} "
                "configurations finished, and the finished slices of seeds of the next are "
                f"saved.\ncontinue it: python -m {PROG} --resume={sweep.sweep_dir}\n")
      out.flush()
    else:
      by = f" (caught by {e.who})" if e.who else ""
      sys.stdout.write(f"stopped by {_signal_name(e.signum)}{by}; the chief saves what "
                       "finished.\n")
    if sweep.multi:
      ensemble.agree(strategy, 0)  # every worker is alive: leave together
    raise
  except WriteError as e:
    raise WriteError(f"{e} What finished is kept: make room, then continue it with python -m "
                     f"{PROG} --resume={sweep.sweep_dir}") from None
  except tf.errors.OpError as e:
    if not sweep.multi:
      raise
    me, tasks = cluster.from_tf_config()
    gone = cluster.lost(tasks, me, str(e))
    who = ", ".join(map(str, gone)) or "a task of the cluster"
    if sweep.chief:
      try:
        _write_partial(sweep, root, censuses, out)
      except WriteError:
        pass
    raise LostWorker(
        f"lost {who}: it stopped answering during the sweep; expected every task of TF_CONFIG "
        "to run it to the end. "
        + (f"Finished slices are saved: continue with python -m {PROG} "
           f"--resume={sweep.sweep_dir} on every machine." if sweep.chief else
           "The chief keeps what finished.")) from None
  if not sweep.chief:
    if sweep.multi:
      ensemble.agree(strategy, 0)  # wait for the chief's writing: leave together
    return None, None
  table = ensemble.census_table(censuses)
  out.write("\n" + table + "\n")
  with _Writes(sweep.sweep_dir):
    with root.as_default():
      tf.summary.text("census", table, step=0)
    root.close()
  out.write(f"\nsweep directory: {sweep.sweep_dir}\n{rundir.open_command(sweep.sweep_dir)}\n"
            "  (the sweep is in the HParams, Scalars and Text dashboards)\n")
  out.flush()
  if sweep.multi:
    ensemble.agree(strategy, 0)
  return censuses, sweep.sweep_dir


def _write_partial(sweep, root, censuses, out):
  """The census table of the finished configurations, printed and in the root run."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  if not censuses:
    if root is not None:
      root.close()
    return
  table = ensemble.census_table(censuses)
  out.write(f"\ncensus of the {len(censuses)} finished configurations:\n{table}\n")
  with _Writes(sweep.sweep_dir):
    with root.as_default():
      tf.summary.text("census", table, step=0)
    root.close()


# ---------------------------------------------------------------------------------------------
# The command line.


def fail(message, status=2):
  cli.fail(PROG, message, status)


parse_flags = cli.flags_parser(PROG)


def grid_values(holders):
  """The checked values of the declared list settings and the hidden shapes, from parsed flags.

  Args:
    holders: an object with a flag holder per sweep setting (`define_flags`' namespace, or
      xor_tf.analyze's, which defines the same grid flags).

  Returns:
    ({setting name: list of values}, [hidden-width tuples]), for `grid`.

  Raises:
    ValueError: with a one-line message for a value a setting does not accept.
  """
  values = {}
  for name, kind in config_lib.sweep_settings().items():
    if kind != "list":
      continue
    given = getattr(holders, name).value
    choices = config_lib.FIELDS[name].metadata.get("choices")
    if choices:
      check_choices(name, given, HAND_BUILT if name == "arch" else choices)
      values[name] = given
    else:
      values[name] = parse_numbers(name, given)
  return values, [config_lib.parse_hidden(h) for h in holders.hidden.value]


def configs_from_flags():
  """The grid and seeds the flags describe (no TensorFlow). Raises ValueError, one line."""
  values, hidden = grid_values(_FLAGS)
  if any(hidden) and all(a in FIXED_SHAPES for a in _FLAGS.arch.value):
    raise ValueError(f"--hidden is expected with --arch=nn or deep; received --arch="
                     f"{','.join(_FLAGS.arch.value)}, whose shapes are fixed.")
  configs = grid(values, hidden=hidden, steps=_FLAGS.steps.value)
  ranges = seed_ranges(_FLAGS.seeds.value)
  check_seed_count(count_seeds(ranges))  # before a list of them exists
  return configs, seed_array(ranges)


def start_tensorflow(cpu_devices, distribute, *, cluster_timeout=None, stop=None):
  """Imports TensorFlow quietly and returns the strategy of --distribute (None: one device).

  As quiet.import_tensorflow, except that the CPU split and MultiWorkerMirroredStrategy must
  come before TensorFlow initialises its devices. In a cluster, the other tasks are met first
  (xor_tf.cluster.join) within `cluster_timeout` seconds, while signals still reach Python.

  Raises:
    cluster.ClusterError: one line naming a task that did not join.
    Stopped: if `stop` caught a signal while the cluster was forming.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
  with quiet.native_stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  multi = distribute == "multi_worker" or (distribute == "auto" and os.environ.get("TF_CONFIG"))
  deadline = time.monotonic() + (cluster_timeout or 0)
  if multi and cluster_timeout:
    from xor_tf import cluster  # pylint: disable=g-import-not-at-top
    me, tasks = cluster.from_tf_config()
    def waiting(missing):
      print(f"{PROG}: {me} waits up to {cluster_timeout:g} s (--cluster_timeout) for "
            f"{', '.join(map(str, missing))} to start", flush=True)

    if not cluster.join(me, tasks, cluster_timeout, should_stop=lambda: stop and stop.signal,
                        on_wait=waiting):
      raise Stopped(stop.signal)
  with quiet.native_stderr_silenced():
    if cpu_devices > 1:
      ensemble.split_cpu(cpu_devices)
    try:
      strategy = ensemble.make_strategy(
          distribute, cluster_timeout=max(10.0, deadline - time.monotonic()) if multi else None)
      tf.config.list_logical_devices()
    except (tf.errors.OpError, RuntimeError) as e:
      if not multi:
        raise
      from xor_tf import cluster  # pylint: disable=g-import-not-at-top
      me, tasks = cluster.from_tf_config()
      gone = [t for t in tasks if t != me and not cluster.answers(t)]
      raise cluster.ClusterError(
          (cluster.missing_message(gone, cluster_timeout) if gone else
           f"the cluster of TF_CONFIG did not form: {_first_line(e)}")) from None
  if multi and stop is not None:
    stop.reinstall()  # TensorFlow's coordination service takes SIGTERM for itself
  return strategy


def exists_message(error):
  return (f"sweep directory {str(error)!r} exists already; sweeps are never overwritten, so "
          "choose another --sweep_name (expected a new name).")


class StopOnSignals:
  """The first Ctrl-C or SIGTERM asks the sweep to stop at the next chunk; a second ends it."""

  SIGNALS = ("SIGINT", "SIGTERM")

  def __init__(self):
    self.signal = 0
    self.reinstall()

  def reinstall(self):
    import signal  # pylint: disable=g-import-not-at-top
    for name in self.SIGNALS:
      signal.signal(getattr(signal, name), self._caught)

  def _caught(self, signum, frame):
    del frame
    if self.signal:
      _leave(128 + signum, f"{PROG}: stopped at once by a second {_signal_name(signum)}; what "
                           "finished is saved in the sweep directory (continue it with "
                           "--resume=<sweep directory>).\n")
    self.signal = signum


def _leave(status, message="", stream=None):
  """Exits with `status` at once, skipping TensorFlow's teardown (and a cluster's shutdown wait)."""
  (stream or sys.stderr).write(message)
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access


def _native_stderr_aside():
  """TensorFlow's native logs (file descriptor 2) go to a temporary file from here on.

  A lost worker makes its C++ side log errors on file descriptor 2; the user gets the sweep's
  one line instead. Python's sys.stderr keeps the terminal, so messages and any unexpected
  traceback still show.
  """
  import tempfile  # pylint: disable=g-import-not-at-top
  sys.stderr.flush()
  terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
  aside = tempfile.TemporaryFile()
  os.dup2(aside.fileno(), 2)
  sys.stderr = terminal
  return aside


# Flags that say how to run, not what: the only ones --resume takes beside it.
HOW_TO_RUN = ("distribute", "cpu_devices", "cluster_timeout", "seeds_per_slice")


def resumed_flags(sweep_dir, argv):
  """Re-parses the flags saved in the sweep directory, keeping the how-to-run flags of argv.

  Raises:
    ValueError: one line, if sweep_dir holds no sweep, or argv also gives grid flags.
  """
  given = [name for name in flags.FLAGS if flags.FLAGS[name].present
           and name not in HOW_TO_RUN + ("resume", "flagfile")
           and name in _FLAGS.__dict__]
  if given:
    raise ValueError(f"--resume continues the sweep its flags.txt describes; expected only "
                     f"{', '.join('--' + n for n in HOW_TO_RUN)} beside it, received "
                     f"{', '.join('--' + n for n in given)}.")
  flagfile = os.path.join(sweep_dir, rundir.FLAGS_FILE)
  if "://" not in sweep_dir and not os.path.isfile(flagfile):
    raise ValueError(f"--resume expects a sweep directory holding {rundir.FLAGS_FILE}; "
                     f"received {sweep_dir!r}.")
  keep = [f"--{n}={flags.FLAGS[n].serialize().split('=', 1)[1]}" for n in HOW_TO_RUN
          if flags.FLAGS[n].present]
  flags.FLAGS.unparse_flags()
  parse_flags([argv[0], f"--flagfile={flagfile}", f"--resume={sweep_dir}", *keep])


def main(argv):
  stop = StopOnSignals()
  resume = _FLAGS.resume.value
  try:
    if resume:
      resume = resume.rstrip("/")
      resumed_flags(resume, argv)
    configs, seeds = configs_from_flags()
    if not resume:
      check_logdir(_FLAGS.logdir.value)
      if _FLAGS.sweep_name.value is not None:
        config_lib.check_run_name(_FLAGS.sweep_name.value)
        path = os.path.join(_FLAGS.logdir.value, _FLAGS.sweep_name.value)
        if "://" not in path and os.path.lexists(path):
          raise FileExistsError(path)
    if _FLAGS.distribute.value == "multi_worker" and not os.environ.get("TF_CONFIG"):
      raise ValueError("--distribute=multi_worker expects the environment variable TF_CONFIG "
                       "to describe the cluster; received no TF_CONFIG.")
    if _FLAGS.distribute.value in ("multi_worker", "auto") and os.environ.get("TF_CONFIG"):
      from xor_tf import cluster  # pylint: disable=g-import-not-at-top
      cluster.from_tf_config()
  except ValueError as e:
    fail(str(e).replace("--run_name", "--sweep_name"))
  except FileExistsError as e:
    fail(exists_message(e))
  logging.set_verbosity(logging.ERROR)
  _native_stderr_aside()
  from xor_tf import cluster  # pylint: disable=g-import-not-at-top
  try:
    strategy = start_tensorflow(_FLAGS.cpu_devices.value, _FLAGS.distribute.value,
                                cluster_timeout=_FLAGS.cluster_timeout.value, stop=stop)
  except cluster.ClusterError as e:
    _leave(1, f"{PROG}: error: {e}\n")
  except Stopped as e:
    _leave(128 + e.signum, f"stopped by {_signal_name(e.signum)} while waiting for the "
                           "cluster; nothing was written.\n", sys.stdout)
  if stop.signal:
    _leave(128 + stop.signal, f"stopped by {_signal_name(stop.signal)} while starting; nothing "
                              "was written.\n", sys.stdout)
  # Every sweep setting and the sweep's own flags; not --sweep_name: a repeat gets a new one.
  saved = [n for n, kind in config_lib.sweep_settings().items() if kind != "hidden"] + [
      "seeds", "logdir", "trials", "distribute", "cpu_devices"]
  flag_lines = [f"--{name}={value if not isinstance(value, list) else ','.join(value)}"
                for name, value in ((n, getattr(_FLAGS, n).value) for n in saved)]
  flag_lines += [f"--hidden={h}" for h in _FLAGS.hidden.value]
  try:
    run(configs, seeds, logdir=_FLAGS.logdir.value, sweep_name=_FLAGS.sweep_name.value,
        trials=_FLAGS.trials.value, strategy=strategy, flag_lines=flag_lines, resume=resume,
        per_slice=_FLAGS.seeds_per_slice.value or None, stop_signal=lambda: stop.signal)
  except FileExistsError as e:  # another sweep took the name since the check above
    _leave(2, f"{PROG}: error: {exists_message(e)}\n")
  except Stopped as e:
    _leave(128 + e.signum)  # 130 for Ctrl-C, 143 for SIGTERM, as shells report them
  except (LostWorker, WriteError) as e:
    _leave(1, f"{PROG}: error: {e}\n")
  _leave(0)


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(main, flags_parser=parse_flags)
