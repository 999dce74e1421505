"""Imports TensorFlow without its native start-up notices, which TF_CPP_MIN_LOG_LEVEL does not reach.

TensorFlow 2.21's C++ side prints oneDNN and CUDA-probe lines before its logging is set up; a
learner should see xor_tf's output, not those. They are kept and shown if the import fails.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_silenced():
  """Sends file descriptor 2 to a temporary file for the block; replays it if the block raises."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile(mode="w+b") as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    except BaseException:
      os.dup2(saved, 2)
      captured.seek(0)
      sys.stderr.write(captured.read().decode(errors="replace"))
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)


def import_tensorflow():
  """Imports TensorFlow and initialises its devices quietly; returns the module."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # oneDNN's notes ("DT_UINT8 only on platforms with AVX-512", drawing pictures) reach stderr at
  # run time; the heavy work is XLA-compiled and does not use oneDNN.
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
  with native_stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_logical_devices()
  return tf
