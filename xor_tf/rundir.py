"""Run directories: one per run under --logdir, named from its settings, never reused (no TensorFlow)."""

import datetime
import errno
import fcntl
import os
import re
import secrets
import shlex

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
  if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", logdir):
    raise ValueError(f"--logdir expects a local directory; received {logdir!r}, a URL "
                     "(xor_tf.train writes only to this machine's file system).")
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
  """Saves the run's flags as an absl flagfile, so `--flagfile=<run dir>/flags.txt` repeats it.

  Written whole or not at all: a resume that fails to rewrite it keeps the old one.
  """
  path = os.path.join(run_dir, FLAGS_FILE)
  write_atomically(path, ("# Repeat this run (into a new run directory): "
                          f"python -m xor_tf.train --flagfile={shlex.quote(path)}\n"
                          + "".join(line + "\n" for line in flag_lines)).encode("utf-8"))


def write_atomically(path, data):
  """Writes bytes to `path` through a temporary file beside it, so `path` is never half-written.

  Raises:
    OSError: if it could not be written; nothing is left behind.
  """
  temp = f"{path}.{secrets.token_hex(4)}.tmp"
  try:
    with open(temp, "wb") as f:
      f.write(data)
    os.replace(temp, path)
  except BaseException:
    try:
      os.remove(temp)
    except OSError:
      pass
    raise


MAX_NAME_BYTES = 200  # a file name holds 255 bytes; checkpoints and temporary files add theirs


def check_name(name):
  """Raises ValueError unless --run_name can be a directory name on any common file system."""
  if name is None:
    return
  bad = [c for c in name if ord(c) < 32 or ord(c) == 127]
  if bad:
    raise ValueError(f"--run_name expects printable characters; received {name!r}, which holds "
                     f"control characters.")
  size = len(name.encode("utf-8", "surrogateescape"))
  if size > MAX_NAME_BYTES:
    raise ValueError(f"--run_name expects at most {MAX_NAME_BYTES} bytes; received a name of "
                     f"{size} bytes ({name[:20]!r}...).")


class Locked(ValueError):
  """Another process is training in the run directory."""


def lock(run_dir):
  """Holds an exclusive lock on `run_dir` for the life of this process; returns its descriptor.

  The lock is the kernel's (flock on the directory itself): nothing is written, and it goes
  away with the process however it ends.

  Raises:
    Locked: if another process holds it.
  """
  fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    os.close(fd)
    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
      raise Locked(f"run directory {run_dir!r} is in use: another xor_tf.train process is "
                   "training in it (expected a run that no process is training).") from None
    raise
  return fd


CHECKPOINTS = "checkpoints"  # inside the run directory (xor_tf.experiment's too)


def latest_checkpoint(run_dir):
  """The newest complete checkpoint of a run, as TensorFlow's index of them names it, or None.

  Read without TensorFlow, so that a run stopped during its import can still say what it keeps.
  """
  directory = os.path.join(run_dir, CHECKPOINTS)
  try:
    with open(os.path.join(directory, "checkpoint"), encoding="utf-8") as f:
      match = re.search(r'^model_checkpoint_path: "(.*)"$', f.read(), re.MULTILINE)
  except (OSError, UnicodeDecodeError):
    return None
  if not match:
    return None
  path = os.path.join(directory, match.group(1))
  return path if os.path.exists(path + ".index") else None


def resume_command(run_dir):
  """The command that continues the run in `run_dir`, quoted for a POSIX shell."""
  return f"python -m xor_tf.train --resume={shlex.quote(run_dir)}"


def open_command(logdir):
  """What to type to see a log directory in TensorBoard, every picture step included."""
  return (f"open it: python -m xor_tf.board --logdir {shlex.quote(logdir)}\n"
          f"  (it shows every picture step, and prints the address that opens on loss, accuracy "
          f"and the pictures; plain `tensorboard --logdir {shlex.quote(logdir)}` keeps 10 "
          "random pictures per tag)")
