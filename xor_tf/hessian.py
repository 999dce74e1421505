"""The loss surface at given weights: loss, gradient and exact Hessian of many networks at once.

The parameters of M networks of one shape are flattened into θ [M, P] (P = 9 for 2-2-1), in
the order of the network's `params` ('layer1/kernel', 'layer1/bias', ...), each kernel
row-major. The loss of network m depends on θ[m] only, so the Jacobian of the stacked
gradients is block diagonal and `GradientTape.batch_jacobian` gives every network's P x P
Hessian in one vectorised call, computed in float64 by default (the checks against finite
differences need it).
"""

import numpy as np
import tensorflow as tf

from xor_tf import data
from xor_tf import ensemble
from xor_tf import losses
from xor_tf import models
from xor_tf import tags


def shapes(net):
  """[(name, shape)] of the network's parameters, in the order θ holds them."""
  return [(name, tuple(v.shape)) for name, v in net.params.items()]


def size(net):
  """P, the number of parameters of one network."""
  return sum(int(np.prod(s)) for _, s in shapes(net))


def flatten(net, params):
  """{name: [M, *shape]} (models first, as `ensemble.Results.params`) -> numpy θ [M, P]."""
  parts = [np.asarray(params[name]).reshape(len(np.asarray(params[name])), int(np.prod(shape)))
           for name, shape in shapes(net)]
  return np.concatenate(parts, axis=1)


def unflatten(net, theta):
  """θ [M, P] -> {name: [M, *shape]} numpy arrays (models first)."""
  theta = np.asarray(theta)
  out, start = {}, 0
  for name, shape in shapes(net):
    n = int(np.prod(shape))
    out[name] = theta[:, start:start + n].reshape((len(theta), *shape))
    start += n
  return out


def _stacked(net, theta):
  """θ [M, P] tensor -> {name: [*shape, M]}, the layout `models.Stack.apply` reads."""
  out, start = {}, 0
  for name, shape in shapes(net):
    n = int(np.prod(shape))
    value = tf.reshape(theta[:, start:start + n], [-1, *shape])
    out[name] = ensemble.models_last(value)
    start += n
  return out


def _loss(net, theta, loss_kind):
  x = tf.constant(data.INPUTS, theta.dtype)
  y = tf.constant(data.LABELS, theta.dtype)
  logits = models.Stack(net).apply(_stacked(net, theta), x)[0]
  return losses.compute_loss(logits, y, loss_kind)


_FUNCTIONS = {}


def _function(net, loss_kind, what):
  key = (repr(net), tuple(shapes(net)), loss_kind, what)
  if key not in _FUNCTIONS:
    if what == "loss":
      fn = lambda theta: _loss(net, theta, loss_kind)
    else:
      fn = lambda theta: _derivatives(net, theta, loss_kind)
    _FUNCTIONS[key] = tf.function(fn, autograph=False, reduce_retracing=True)
  return _FUNCTIONS[key]


def _derivatives(net, theta, loss_kind):
  with tf.GradientTape() as outer:
    outer.watch(theta)
    with tf.GradientTape() as inner:
      inner.watch(theta)
      loss = _loss(net, theta, loss_kind)
      total = tf.reduce_sum(loss)  # each network's loss depends on its own row only
    grad = inner.gradient(total, theta)
  return loss, grad, outer.batch_jacobian(grad, theta)


def loss_at(net, theta, loss_kind, dtype=tf.float64):
  """The loss [M] of each network at θ [M, P]."""
  return _function(net, loss_kind, "loss")(tf.constant(theta, dtype)).numpy()


def derivatives(net, theta, loss_kind, dtype=tf.float64):
  """(loss [M], gradient [M, P], Hessian [M, P, P]) at θ [M, P], as numpy arrays.

  The mean loss over the four XOR points (`losses.compute_loss`), differentiated twice by
  GradientTape; the Hessian is symmetrised (it is symmetric up to rounding).
  """
  loss, grad, hess = _function(net, loss_kind, "all")(tf.constant(theta, dtype))
  hess = hess.numpy()
  return loss.numpy(), grad.numpy(), (hess + np.swapaxes(hess, 1, 2)) / 2


def spectrum(hess):
  """Eigenvalues ascending [M, P] and unit eigenvectors [M, P, P] (columns) of symmetric Hessians."""
  values, vectors = np.linalg.eigh(hess)
  return values, vectors


def dead_units(net, theta):
  """[M] count of hidden units whose activation is exactly 0 on all four points (relu's dead)."""
  x = tf.constant(data.INPUTS, tf.float64)
  _, activations = models.Stack(net).apply(_stacked(net, tf.constant(theta, tf.float64)), x)
  count = np.zeros(len(theta), np.int64)
  for layer, value in activations.items():
    if layer != tags.OUTPUT:
      count += np.sum(np.all(value.numpy() == 0, axis=0), axis=0)
  return count
