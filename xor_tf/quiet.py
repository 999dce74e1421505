"""Imports TensorFlow without its native start-up notices, which TF_CPP_MIN_LOG_LEVEL does not reach.

TensorFlow 2.21's C++ side prints oneDNN and CUDA-probe lines before its logging is set up; a
learner should see xor_tf's output, not those. They are kept and shown if the import fails.
"""

import contextlib
import hashlib
import importlib.metadata
import os
import platform
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_silenced():
  """Sends file descriptor 2 to a temporary file for the block; replays it if the block fails."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile(mode="w+b") as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    except Exception:  # not for Ctrl-C: the notices say nothing about why it stopped
      os.dup2(saved, 2)
      captured.seek(0)
      sys.stderr.write(captured.read().decode(errors="replace"))
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)


def xla_cache_dir():
  """Where compiled XLA programs are kept between runs, if XOR_TF_XLA_CACHE=1:
  $XDG_CACHE_HOME/xor_tf/xla/<this CPU and TensorFlow>, so an entry compiled for another CPU
  (a shared home directory) or another TensorFlow is never loaded."""
  root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(root, "xor_tf", "xla", _machine_key())


def _machine_key():
  cpu = ""
  try:
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
      cpu = "".join(sorted({line for line in f if line.startswith(("model name", "flags"))}))
  except OSError:
    cpu = platform.processor()
  try:
    version = importlib.metadata.version("tensorflow")
  except importlib.metadata.PackageNotFoundError:
    version = "?"
  return hashlib.sha256(f"{platform.machine()}\n{cpu}\n{version}".encode()).hexdigest()[:16]


def import_tensorflow():
  """Imports TensorFlow and initialises its devices quietly; returns the module.

  XOR_TF_XLA_CACHE=1 turns on XLA's persistent compilation cache, so that a run of a shape that
  ran before reuses its compiled loop instead of compiling it again (the same program, so the
  same numbers). It is off by default: TensorFlow 2.21 prints nine "E0000" lines (a text-format
  parse error and "Target machine feature ... is not supported", about its own feature names)
  on stderr each time it loads an entry, which a newcomer should not meet on a second run.
  """
  if os.environ.get("XOR_TF_XLA_CACHE", "0") == "1" and (
      "tf_xla_persistent_cache_directory" not in os.environ.get("TF_XLA_FLAGS", "")):
    os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") +
                                  f" --tf_xla_persistent_cache_directory={xla_cache_dir()}").strip()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # oneDNN's notes ("DT_UINT8 only on platforms with AVX-512", drawing pictures) reach stderr at
  # run time; the heavy work is XLA-compiled and does not use oneDNN.
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
  with native_stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_logical_devices()
  return tf
