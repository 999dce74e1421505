"""The shared train loop: each architecture's promised outcome, one trace, determinism."""

import dataclasses
import math

import numpy as np
import pytest

from xor_tf import config as config_lib
from xor_tf import training


@pytest.mark.parametrize("arch", ["concat", "nn", "deep", "keras"])
def test_learns_xor_at_defaults(arch):
  result = training.train(config_lib.Config(arch=arch))
  assert result.accuracy == 1.0
  np.testing.assert_array_equal(result.labels, [0, 1, 1, 0])


def test_logistic_unit_cannot_learn_xor():
  result = training.train(config_lib.Config(arch="logistic"))
  # No line separates XOR: at most 3 of 4 points right, and BCE cannot go below ln 2.
  assert result.accuracy <= 0.75
  assert abs(result.loss - math.log(2)) < 0.01
  assert min(result.history["loss"]) > math.log(2) - 1e-4


@pytest.mark.parametrize("arch", config_lib.ARCHS)
def test_traces_once_per_run(arch):
  result = training.train(config_lib.Config(arch=arch, steps=250, log_every=20))
  assert result.trace_count == 1


def test_same_seed_same_numbers_bit_for_bit():
  config = config_lib.Config(steps=300, log_every=10)
  first, second = training.train(config), training.train(config)
  assert first.history == second.history
  np.testing.assert_array_equal(first.probabilities, second.probabilities)
  other = training.train(dataclasses.replace(config, seed=config.seed + 1))
  assert other.history["loss"] != first.history["loss"]


def test_chunk_size_does_not_change_numbers(monkeypatch):
  config = config_lib.Config(arch="nn", steps=300, log_every=10, optimizer="sgd", loss="mse")
  reference = training.train(config)
  monkeypatch.setattr(training, "STEPS_PER_CHUNK", 1)  # one logging step per compiled call
  assert training.logs_per_chunk(config.log_every) == 1
  assert training.train(config).history == reference.history


def test_logging_steps():
  assert training.logging_steps(250, 100) == [0, 100, 200, 250]
  assert training.logging_steps(200, 100) == [0, 100, 200]
  assert training.logging_steps(3, 5) == [0, 3]
