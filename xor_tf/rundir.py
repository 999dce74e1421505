"""Run directories: one per run under --logdir, named from its settings, never reused (no TensorFlow)."""

import datetime
import os
import secrets

from xor_tf import config as config_lib

FLAGS_FILE = "flags.txt"


def default_name(config):
  """E.g. 'deep-2-10-10-10-1-sigmoid-adam-lr0.05-bce-uniform-seed0-20261123-120501-3fa2'.

  The settings' parts are those declared in `xor_tf.config` (`config.name_parts`).
  """
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  return "-".join(config_lib.name_parts(config) + [stamp, secrets.token_hex(2)])


def check_logdir(logdir):
  """Raises ValueError if `logdir` cannot hold run directories (checked before anything is written)."""
  if not logdir:
    raise ValueError("--logdir expects a directory path; received ''.")
  path = os.path.abspath(logdir)
  probe = path
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise ValueError(f"--logdir expects a directory; received {logdir!r}, and {probe!r} is a file.")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise ValueError(f"--logdir expects a writable directory; received {logdir!r}, "
                     f"and {probe!r} is not writable.")


def exists_message(path):
  return (f"run directory {path!r} exists already; runs are never overwritten, so choose "
          "another --run_name (expected a new name).")


def check_new(logdir, name):
  """Raises ValueError if logdir/name exists (checked before anything is written)."""
  path = os.path.join(logdir, name)
  if os.path.lexists(path):
    raise ValueError(exists_message(path))


def create(logdir, name):
  """Creates and returns logdir/name; never an existing directory, even with concurrent runs.

  Raises:
    FileExistsError: if `name` was given and that run directory exists already.
  """
  os.makedirs(logdir, exist_ok=True)
  path = os.path.join(logdir, name)
  os.mkdir(path)  # atomic: fails if another run (or an earlier one) has this directory
  return path


def write_flags(run_dir, flag_lines):
  """Saves the run's flags as an absl flagfile, so `--flagfile=<run dir>/flags.txt` repeats it."""
  with open(os.path.join(run_dir, FLAGS_FILE), "w", encoding="utf-8") as f:
    f.write("# Repeat this run (into a new run directory): "
            f"python -m xor_tf.train --flagfile={os.path.join(run_dir, FLAGS_FILE)}\n")
    f.writelines(line + "\n" for line in flag_lines)
