"""Summary data computed inside the compiled loop, and the ops that write it between chunks.

TensorBoard's own `tf.summary.histogram` buckets its data with ~25 graph ops per call, which at
one log every 100 steps costs more than the training. Here the buckets are computed in XLA,
together for every tensor of a logging step, and only `tf.summary.write` runs outside.
"""

import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from xor_tf import pictures
from xor_tf import tags

BUCKETS = 30  # TensorBoard's default bucket count


def histogram_buckets(data, bucket_count=BUCKETS):
  """The [bucket_count, 3] (left edge, right edge, count) tensor that TensorBoard stores.

  Same layout as tensorboard.plugins.histogram.summary_v2, written without tf.cond so that it
  compiles with XLA: if all values are equal, every edge is that value and the last bucket
  holds the count.
  """
  data = tf.cast(tf.reshape(data, [-1]), tf.float64)
  lo, hi = tf.reduce_min(data), tf.reduce_max(data)
  single = tf.equal(hi, lo)
  width = tf.where(single, tf.constant(1.0, tf.float64), (hi - lo) / bucket_count)
  index = tf.cast(tf.floor((data - lo) / width), tf.int32)
  index = tf.where(single, bucket_count - 1, tf.minimum(index, bucket_count - 1))
  counts = tf.math.unsorted_segment_sum(tf.ones_like(data), index, bucket_count)
  edges = lo + (hi - lo) * tf.range(bucket_count + 1, dtype=tf.float64) / bucket_count
  left = edges[:-1]
  right = tf.concat([edges[1:-1], [hi]], axis=0)
  return tf.stack([left, right, counts], axis=1)


def histogram_metadata_for(description=""):
  return histogram_metadata.create_summary_metadata(display_name=None, description=description)


def scalar_metadata_for(description=""):
  return scalar_metadata.create_summary_metadata(display_name=None, description=description)


def observe(apply, params, x, y, loss_fn):
  """What one logging step records: loss, accuracy and a histogram per parameter and layer.

  Returns a flat dict from tag to tensor; histograms are [BUCKETS, 3] buckets.
  """
  logits, activations = apply(params, x)
  record = {
      tags.LOSS: loss_fn(logits, y),
      tags.ACCURACY: accuracy(activations[tags.OUTPUT], y),
  }
  for name, value in params.items():
    record[tags.weight(name)] = histogram_buckets(value)
  for name, value in activations.items():
    record[tags.activation(name)] = histogram_buckets(value)
  return record


def diagnose(grads, sign_changes):
  """Gradient histograms and norms per layer, and the update sign-change counts per layer.

  Args:
    grads: {param name: d(loss)/d(param)} at the logging step.
    sign_changes: {param name: per-element count of update direction changes since the last
      logging step}.

  Returns:
    {tag: tensor}: histograms [BUCKETS, 3] and scalars.
  """
  record = {tags.gradient(name): histogram_buckets(g) for name, g in grads.items()}
  layers = {}
  for name in grads:
    layers.setdefault(tags.layer_of(name), []).append(name)
  for layer, names in layers.items():
    record[tags.gradient_norm(layer)] = tf.sqrt(sum(tf.reduce_sum(tf.square(grads[n]))
                                                    for n in names))
    record[tags.sign_changes(layer)] = histogram_buckets(
        tf.concat([tf.reshape(sign_changes[n], [-1]) for n in names], axis=0))
  record[tags.SIGN_CHANGES_TOTAL] = tf.add_n([tf.reduce_sum(c) for c in sign_changes.values()])
  return record


def draw(apply, params, grid):
  """The pictures of one logging step: {tag: uint8 image [1, H, W, 3]}.

  The network runs on `grid` (pictures.grid_points()) as one batch; its output becomes the
  decision boundary and each hidden layer a row of per-neuron heatmaps.
  """
  _, activations = apply(params, grid)
  return {tags.picture(name): image for name, image in pictures.draw(activations).items()}


def accuracy(probabilities, labels):
  """Fraction of points whose label (probability > 0.5) equals the true label."""
  return tf.reduce_mean(tf.cast(tf.equal(probabilities > 0.5, labels > 0.5), tf.float32))


def metadata_for(tag, value):
  """The SummaryMetadata that tells TensorBoard which dashboard shows `tag`, given its value."""
  if value.shape.rank == 0:
    return scalar_metadata_for(tags.DESCRIPTIONS.get(tag, ""))
  if tags.is_picture(tag):
    return image_metadata.create_summary_metadata(
        display_name=None, description="What the network computes over the input plane.")
  return histogram_metadata_for()


def write(record, step, metadata):
  """Writes one logging step's record (`observe`, `draw`) to the default writer.

  Pictures are PNG-encoded here, outside XLA, which cannot encode. Returns whether all were
  written (False without a default writer), as tf.summary.write does.
  """
  written = tf.constant(True)
  for tag, value in record.items():
    if tags.is_picture(tag):
      value = pictures.summary_tensor(value)
    written = tf.summary.write(tag, value, step=step, metadata=metadata[tag]) & written
  return written
