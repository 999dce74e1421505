"""Speed must not change results: the compiled loop against a plain per-step GradientTape loop."""

import keras
import pytest
import tensorflow as tf

from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import losses
from xor_tf import models
from xor_tf import training

STEPS = 100


def reference_loss(config):
  """The notebooks' way: one eager GradientTape step per Python iteration, a Keras optimizer."""
  net = models.build(config)  # same seed, same initial weights as the compiled run
  variables = list(net.params.values())
  if config.optimizer == "sgd":
    optimizer = keras.optimizers.SGD(config.learning_rate)
  else:
    optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=1e-7)
  x, y = tf.constant(data.INPUTS), tf.constant(data.LABELS)
  for _ in range(config.steps):
    with tf.GradientTape() as tape:
      loss = losses.compute_loss(net(x)[0], y, config.loss)
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
  return float(losses.compute_loss(net(x)[0], y, config.loss))


@pytest.mark.parametrize("arch", config_lib.ARCHS)
@pytest.mark.parametrize("optimizer,loss", [("sgd", "mse"), ("adam", "bce")])
def test_compiled_loop_matches_per_step_tape(arch, optimizer, loss):
  config = config_lib.Config(arch=arch, optimizer=optimizer, loss=loss, steps=STEPS,
                             log_every=STEPS, learning_rate=0.5 if optimizer == "sgd" else 0.02)
  fast = training.train(config)
  assert fast.loss == pytest.approx(reference_loss(config), rel=1e-4, abs=1e-6)
