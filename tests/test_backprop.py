"""Backprop by hand against GradientTape, and the notebooks' NumPy loop against xor_tf's."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from xor_tf import backprop
from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import activations
from xor_tf import models
from xor_tf import step as step_lib
from xor_tf import training

# Every hand-built architecture: (arch, hidden). The --hidden ones are 2-4-2-1 (notebook 000's
# attempt that failed with a shape error) and 2-3-3-1 (notebook 001's homework).
ARCHS = [("logistic", ()), ("concat", ()), ("nn", ()), ("deep", ()), ("nn", (4, 2)),
         ("nn", (3, 3))]
ARCH_IDS = [f"{a}:{config_lib.Config(arch=a, hidden=h).shape}" for a, h in ARCHS]
# Random weight draws: (init, seed, scale). Scale 3 pushes the sigmoids towards saturation,
# where a(1 − a) is small and a wrong factor would still show.
DRAWS = [("glorot", 0, 1.0), ("normal", 1, 1.0), ("normal", 2, 1.0), ("uniform", 3, 1.0),
         ("normal", 4, 3.0)]


def float64_problem(arch, hidden, init, seed, scale=1.0, activation="sigmoid"):
  """A network and its params, x and y, all in float64 so the comparison sees only algebra."""
  net = models.build(config_lib.Config(arch=arch, hidden=hidden, init=init, seed=seed,
                                       activation=activation))
  params = {k: scale * tf.cast(v, tf.float64) for k, v in net.params.items()}
  x = tf.constant(data.INPUTS, tf.float64)
  y = tf.constant(data.LABELS, tf.float64)
  return net, params, x, y


@pytest.mark.parametrize("activation", activations.NAMES)
@pytest.mark.parametrize("loss", ["bce", "mse"])
@pytest.mark.parametrize("arch,hidden", ARCHS, ids=ARCH_IDS)
def test_manual_gradients_equal_gradient_tape(arch, hidden, loss, activation):
  largest = {}
  for init, seed, scale in DRAWS:
    net, params, x, y = float64_problem(arch, hidden, init, seed, scale, activation)
    manual_loss, manual = backprop.manual_gradients(net, params, x, y, loss)
    tape_loss, tape = step_lib.tape_gradients(net, params, x, y, loss)
    assert list(manual) == list(params)
    np.testing.assert_allclose(manual_loss.numpy(), tape_loss.numpy(), rtol=1e-12)
    # Relative to 1e-6, with a floor far below float64 noise so the tiny gradients of deep
    # sigmoid stacks are checked too.
    for key in params:
      assert manual[key].dtype == tf.float64
      assert manual[key].shape == params[key].shape, key
      np.testing.assert_allclose(manual[key].numpy(), tape[key].numpy(), rtol=1e-6, atol=1e-12,
                                 err_msg=f"{key} ({init}, seed {seed}, scale {scale})")
    for key in params:
      largest[key] = max(largest.get(key, 0.0), np.abs(tape[key].numpy()).max())
  # Not vacuous: for some draw the gradient reaches every layer (a draw may saturate it).
  for key in params:
    if key.endswith("/kernel"):
      assert largest[key] > 1e-8, key


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("arch,hidden", [("concat", ()), ("nn", (3, 3))],
                         ids=["concat", "2-3-3-1"])
def test_stack_of_networks_runs_batched(arch, hidden, activation):
  """A models.Stack (the model axis last) through backprop: each network's own gradients."""
  nets = [float64_problem(arch, hidden, "normal", seed, activation=activation)
          for seed in range(3)]
  _, _, x, y = nets[0]
  stacked = {k: tf.stack([params[k] for _, params, _, _ in nets], axis=-1) for k in nets[0][1]}
  loss, grads = backprop.manual_gradients(models.Stack(nets[0][0]), stacked, x, y, "mse")
  tape_stack_loss, tape_stack = step_lib.tape_gradients(models.Stack(nets[0][0]), stacked, x, y,
                                                        "mse")
  for i, (net, params, _, _) in enumerate(nets):
    one_loss, tape = step_lib.tape_gradients(net, params, x, y, "mse")
    np.testing.assert_allclose(loss[i].numpy(), one_loss.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tape_stack_loss[i].numpy(), one_loss.numpy(), rtol=1e-12)
    for key in params:
      np.testing.assert_allclose(grads[key][..., i].numpy(), tape[key].numpy(), rtol=1e-6,
                                 atol=1e-12)
      np.testing.assert_allclose(tape_stack[key][..., i].numpy(), tape[key].numpy(), rtol=1e-6,
                                 atol=1e-12)


def test_keras_network_is_refused():
  net = models.build(config_lib.Config(arch="keras"))
  x, y = tf.constant(data.INPUTS), tf.constant(data.LABELS)
  with pytest.raises(ValueError, match=r"expects a hand-built models.Network.*KerasNetwork"):
    backprop.manual_gradients(net, net.params, x, y, "bce")


def test_unknown_loss_is_refused():
  net, params, x, y = float64_problem("nn", (), "glorot", 0)
  with pytest.raises(ValueError, match=r"Unknown loss 'mae'; expected one of: bce, mse."):
    backprop.manual_gradients(net, params, x, y, "mae")


def sigmoid(x):
  return 1 / (1 + np.exp(-x))


def sigmoid_derivative(a):
  return a * (1 - a)


def notebook_loop(params, loss, learning_rate, steps):
  """Notebooks 000 and 001's 2-h-1 training loop in NumPy, float64; returns the final (loss, a2).

  The same code as the notebooks but for the 1/N (and MSE's 2) of the mean, which they fold
  into the learning rate; with it, this is gradient descent on the loss xor_tf reports.
  """
  x_data = data.INPUTS.astype(np.float64)
  y_data = data.LABELS.astype(np.float64)
  n = len(x_data)
  w1, b1 = params["layer1/kernel"].copy(), params["layer1/bias"].copy()
  w2, b2 = params["layer2/kernel"].copy(), params["layer2/bias"].copy()
  for _ in range(steps):
    # Forward pass
    a1 = sigmoid(np.dot(x_data, w1) + b1)
    a2 = sigmoid(np.dot(a1, w2) + b2)
    # Backward pass: output delta, then the hidden layer's through W2ᵀ and σ'
    if loss == "bce":
      dz2 = (a2 - y_data) / n
    else:
      dz2 = 2 * (a2 - y_data) * sigmoid_derivative(a2) / n
    dz1 = np.dot(dz2, w2.T) * sigmoid_derivative(a1)
    # SGD update
    w2 -= learning_rate * np.dot(a1.T, dz2)
    b2 -= learning_rate * np.sum(dz2, axis=0)
    w1 -= learning_rate * np.dot(x_data.T, dz1)
    b1 -= learning_rate * np.sum(dz1, axis=0)
  a2 = sigmoid(np.dot(sigmoid(np.dot(x_data, w1) + b1), w2) + b2)
  if loss == "bce":
    cost = -np.mean(y_data * np.log(a2) + (1 - y_data) * np.log(1 - a2))
  else:
    cost = np.mean((y_data - a2) ** 2)
  return cost, a2.reshape(-1)


# The notebooks' lr 0.1 without the 1/N is lr 0.4 here for BCE (N = 4); the MSE run takes a
# bigger step so that 1,000 steps (the notebooks take 10,000) get most of the way.
@pytest.mark.parametrize("hidden,loss,learning_rate,init,seed", [
    ((2,), "bce", 0.4, "glorot", 1),  # notebook 000's 2-2-1
    ((3,), "mse", 2.0, "normal", 0),  # notebook 001's 2-3-1
], ids=["2-2-1-bce", "2-3-1-mse"])
def test_notebook_numpy_loop_matches_xor_tf(hidden, loss, learning_rate, init, seed):
  config = config_lib.Config(arch="nn", hidden=hidden, loss=loss, optimizer="sgd",
                             learning_rate=learning_rate, init=init, seed=seed, steps=1000,
                             log_every=1000, image_every=0)
  start = {k: v.numpy().astype(np.float64) for k, v in models.build(config).params.items()}
  cost, probabilities = notebook_loop(start, loss, learning_rate, config.steps)
  result = training.train(config)
  assert result.history["step"] == [0, 1000]
  assert cost < 0.6 * result.history["loss"][0]  # it learned something, so the test is not vacuous
  assert result.loss == pytest.approx(cost, rel=1e-5)
  np.testing.assert_allclose(result.probabilities, probabilities, atol=1e-5)


@pytest.mark.parametrize("arch,hidden,optimizer,loss", [
    ("concat", (), "sgd", "mse"),
    ("deep", (), "adam", "bce"),
    ("nn", (), "sgd", "bce"),
], ids=["concat-sgd-mse", "deep-adam-bce", "nn-sgd-bce"])
def test_compiled_loop_with_manual_gradients_matches_tape(arch, hidden, optimizer, loss):
  config = config_lib.Config(arch=arch, hidden=hidden, optimizer=optimizer, loss=loss,
                             learning_rate=0.5 if optimizer == "sgd" else 0.05, steps=300,
                             log_every=50)
  tape = training.train(config)
  manual = training.train(dataclasses.replace(config, gradients="manual"))
  assert manual.trace_count == 1
  assert manual.history["step"] == tape.history["step"]
  assert manual.history["accuracy"] == tape.history["accuracy"]
  np.testing.assert_allclose(manual.history["loss"], tape.history["loss"], rtol=1e-5)
  np.testing.assert_allclose(manual.probabilities, tape.probabilities, atol=1e-5)
