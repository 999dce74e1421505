"""The two losses of the notebooks, as means over the four XOR points."""

import tensorflow as tf


def compute_loss(logits, labels, kind):
  """Mean BCE computed stably from logits ('bce'), or mean squared error of the probabilities.

  Labels broadcast, so a stack of networks (logits [models, 4, 1]) shares one [4, 1] of labels.
  """
  labels = tf.broadcast_to(tf.cast(labels, logits.dtype), tf.shape(logits))
  if kind == "bce":
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
  return tf.reduce_mean(tf.square(tf.sigmoid(logits) - labels))
