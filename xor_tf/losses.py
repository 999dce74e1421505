"""The two losses of the notebooks, as means over the four XOR points: one per network."""

import tensorflow as tf


def labels_like(labels, values):
  """Labels [4, 1] laid out as `values`: [4, 1], or [4, 1, M] for a stack of networks."""
  labels = tf.cast(labels, values.dtype)
  extra = values.shape.rank - labels.shape.rank
  if extra:
    labels = tf.reshape(labels, labels.shape.as_list() + [1] * extra)
  return tf.broadcast_to(labels, tf.shape(values))


def compute_loss(logits, labels, kind):
  """Mean BCE computed stably from logits ('bce'), or mean squared error of the probabilities.

  The mean runs over the points (axis 0) and the output units (axis 1): a network's logits
  [4, 1] give a scalar, and a stack of networks with the model axis last (logits [4, 1, M],
  `models.Network.apply_stack`) gives each network's own loss, [M].
  """
  labels = labels_like(labels, logits)
  if kind == "bce":
    per_point = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
  else:
    per_point = tf.square(tf.sigmoid(logits) - labels)
  return tf.reduce_mean(per_point, axis=[0, 1])
