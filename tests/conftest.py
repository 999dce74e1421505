"""Shared test set-up: quiet TensorFlow, and small helpers."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as xor_tf.quiet sets it for the CLI

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(module, *args, timeout=300):
  """Runs `python -m module args` from the repository, as a learner would; returns CompletedProcess."""
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                        env=env, timeout=timeout, check=False)
