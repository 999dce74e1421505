"""SavedModel export: a serving signature that maps a batch of 2-D points to probabilities and labels."""

import tensorflow as tf

from xor_tf import tags


class Serving(tf.Module):
  """Wraps a trained network for tf.saved_model; its variables are saved with it."""

  def __init__(self, net):
    super().__init__(name="xor_tf_serving")
    self.net = net

  @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="points")])
  def serve(self, points):
    probability = self.net(points)[1][tags.OUTPUT][:, 0]
    return {"probability": probability, "label": tf.cast(probability > 0.5, tf.int32)}


def save(net, path):
  """Writes `net` as a SavedModel at `path` with the signature 'serving_default'."""
  module = Serving(net)
  tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
  return path


def load(path):
  """Returns the serving function of a SavedModel written by `save`: fn(points=[n, 2]) -> dict."""
  return tf.saved_model.load(path).signatures["serving_default"]
