"""Summary data computed with XLA-compilable ops: what a logging step records and draws.

TensorBoard's own `tf.summary.histogram` buckets its data with ~25 graph ops per call, which at
one log every 100 steps costs more than the training. Here the buckets are computed in XLA,
together for every tensor of a logging step; the training loop then writes each tag with one
`tf.summary.write` and the metadata `metadata_for` gives it. Pictures are drawn in XLA too and
stored as PNG (`image_value`, outside XLA, which has no strings).
"""

import numpy as np
import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata

from xor_tf import data

from xor_tf import losses
from xor_tf import pictures
from xor_tf import tags

BUCKETS = 30  # TensorBoard's default bucket count
UNDECIDED = 1e-6  # an output this close to 0.5 is not a label (`accuracy`)


def histogram_buckets(data, bucket_count=BUCKETS):
  """The [bucket_count, 3] (left edge, right edge, count) tensor that TensorBoard stores.

  Same layout as tensorboard.plugins.histogram.summary_v2, written without tf.cond so that it
  compiles with XLA: if all values are equal, every edge is that value and the last bucket
  holds the count. Computed in float64 as TensorBoard does, stored as float32 (see
  `histograms`), which TensorBoard's histogram dashboards read alike.
  """
  return histograms({"data": data}, bucket_count)["data"]


def histograms(tensors, bucket_count=BUCKETS):
  """`histogram_buckets` of several tensors of static shapes, computed together.

  One segment min, max and sum over all the values at once, instead of a dozen small ops per
  tensor: a logging step of the 2-10-10-10-1 network records 15 histograms.

  Args:
    tensors: {key: tensor}; every shape known when tracing.
    bucket_count: buckets per histogram.

  Returns:
    {key: float32 [bucket_count, 3]}.
  """
  keys = list(tensors)
  flat = [tf.reshape(tf.cast(tensors[k], tf.float64), [-1]) for k in keys]
  n = len(keys)
  segment = tf.constant(np.repeat(np.arange(n), [f.shape[0] for f in flat]), tf.int32)
  data = tf.concat(flat, axis=0)
  lo = tf.math.unsorted_segment_min(data, segment, n)
  hi = tf.math.unsorted_segment_max(data, segment, n)
  single = tf.equal(hi, lo)
  width = tf.where(single, tf.constant(1.0, tf.float64), (hi - lo) / bucket_count)
  index = tf.cast(tf.floor((data - tf.gather(lo, segment)) / tf.gather(width, segment)), tf.int32)
  index = tf.where(tf.gather(single, segment), bucket_count - 1,
                   tf.minimum(index, bucket_count - 1))
  counts = tf.math.unsorted_segment_sum(tf.ones_like(data), segment * bucket_count + index,
                                        n * bucket_count)
  fractions = tf.range(bucket_count + 1, dtype=tf.float64) / bucket_count
  edges = lo[:, None] + (hi - lo)[:, None] * fractions  # [n, bucket_count + 1]
  left = edges[:, :-1]
  right = tf.concat([edges[:, 1:-1], hi[:, None]], axis=1)
  buckets = tf.stack([left, right, tf.reshape(counts, [n, bucket_count])], axis=2)
  # Stored as float32: half the bytes of TensorBoard's float64.
  buckets = tf.cast(buckets, tf.float32)
  return {key: buckets[i] for i, key in enumerate(keys)}


def histogram_metadata_for(description=""):
  return histogram_metadata.create_summary_metadata(display_name=None, description=description)


def scalar_metadata_for(description=""):
  return scalar_metadata.create_summary_metadata(display_name=None, description=description)


def observe(apply, params, x, y, loss_fn):
  """`xor_tf.step.observe`, where what a logging step records is written (the lesson)."""
  from xor_tf import step  # pylint: disable=g-import-not-at-top (step imports this module)
  return step.observe(apply, params, x, y, loss_fn)


def diagnose(grads, sign_changes):
  """Gradient histograms and norms per layer, and the update sign-change counts per layer.

  Args:
    grads: {param name: d(loss)/d(param)} at the logging step.
    sign_changes: {param name: per-element count of update direction changes since the last
      logging step}.

  Returns:
    {tag: tensor}: histograms [BUCKETS, 3] and scalars.
  """
  layers = {}
  for name in grads:
    layers.setdefault(tags.layer_of(name), []).append(name)
  record = histograms({
      **{tags.gradient(name): g for name, g in grads.items()},
      **{tags.sign_changes(layer): tf.concat([tf.reshape(sign_changes[n], [-1]) for n in names],
                                             axis=0) for layer, names in layers.items()}})
  for layer, names in layers.items():
    record[tags.gradient_norm(layer)] = tf.sqrt(sum(tf.reduce_sum(tf.square(grads[n]))
                                                    for n in names))
  # Each layer's norm over the last layer's: the vanishing gradient as one number per layer,
  # on one scale (TensorBoard's custom scalars layout has no log-scale option).
  *earlier, last = layers
  for layer in earlier:
    record[tags.gradient_norm_relative(layer)] = (record[tags.gradient_norm(layer)]
                                                  / record[tags.gradient_norm(last)])
  record[tags.SIGN_CHANGES_TOTAL] = tf.add_n([tf.reduce_sum(c) for c in sign_changes.values()])
  return record


def draw(apply_columns, params, value_range=(0.0, 1.0)):
  """The pictures of one logging step: {tag: int32 pixels [1, H, W]} (`pictures.draw_packed`).

  The network's output over the input plane becomes the decision boundary, each hidden layer
  its numbered per-neuron heatmaps, spanning `value_range`, the hidden activation's
  (`xor_tf.activations`), and a network with a hidden layer also gets `pictures/hidden_space`,
  the XOR points as its last hidden layer sees them (`pictures.draw_packed`).
  """
  return {tags.picture(name): image for name, image in
          pictures.draw_packed(apply_columns, params, value_range=value_range).items()}


def accuracy(probabilities, labels):
  """Fraction of points whose label (probability > 0.5) equals the true label.

  An output within UNDECIDED of 0.5 decides nothing and counts as wrong for either label: a
  linear network's outputs end at 0.5 up to float32 rounding (a few 1e-8, the best a line can
  do for XOR), and the rounding must not read as points learned.

  Per network, as `losses.compute_loss`: a scalar for probabilities [4, 1], [M] for a stack
  [4, 1, M] (labels [4, 1] broadcast over the model axis).
  """
  labels = losses.labels_like(labels, probabilities)
  decided = tf.abs(probabilities - 0.5) > UNDECIDED
  right = tf.cast(tf.equal(probabilities > 0.5, labels > 0.5) & decided, tf.float32)
  return tf.reduce_mean(right, axis=[0, 1])


def metadata_for(tag, value):
  """The SummaryMetadata that tells TensorBoard which dashboard shows `tag`, given its value."""
  if value.shape.rank == 0:
    return scalar_metadata_for(tags.description(tag))
  if tags.is_picture(tag):
    return image_metadata.create_summary_metadata(
        display_name=None, description=pictures.describe(tag))
  return histogram_metadata_for(tags.description(tag))


# zlib level of the pictures' PNGs: level 1 is ~2x faster than the default 6 for ~1.2x the bytes
# on these flat-coloured pictures.
PNG_COMPRESSION = 1


def image_value(image):
  """The image dashboard's string [3] tensor (width, height, PNG) of uint8 RGB [1, H, W, 3].

  What `tf.summary.image` writes for one image, without its checks and conversions.
  """
  _, height, width, _ = image.shape
  return tf.stack([tf.constant(str(width)), tf.constant(str(height)),
                   tf.io.encode_png(image[0], compression=PNG_COMPRESSION)])


TRUTH_TABLE_METADATA = text_metadata.create_summary_metadata(
    display_name=None, description="The four XOR inputs with the network's output probability, "
    "its label (probability > 0.5) and the target, at this step.")


def truth_table(probabilities):
  """The truth table the notebooks print, as a Markdown string tensor, from probabilities [4].

  Graph ops, so the training loop writes it at every picture step; the same text as
  `xor_tf.experiment.truth_table`'s rows, joined by newlines.
  """
  p = tf.reshape(tf.cast(probabilities, tf.float32), [-1])
  inputs = data.INPUTS.astype(int)
  targets = data.LABELS.astype(int)[:, 0]
  labels = tf.strings.as_string(tf.cast(p > 0.5, tf.int32))
  rows = tf.strings.join([
      tf.constant([f"| {x1} | {x2} | " for x1, x2 in inputs]),
      tf.strings.as_string(p, precision=4), tf.constant(" | "), labels,
      tf.constant([f" | {y} |" for y in targets])])
  return tf.strings.reduce_join(
      tf.concat([tf.constant(["| x1 | x2 | probability | label | target |", "|---|---|---|---|---|"]),
                 rows], axis=0), separator="\n")


def write_truth_table(probabilities, step):
  """Writes `truth_table(probabilities)` under tags.TRUTH_TABLE to the default writer.

  What both trainers write at a picture step, and at a last step that is not one. Returns
  whether it was written, as tf.summary.write does.
  """
  return tf.summary.write(tags.TRUTH_TABLE, truth_table(probabilities), step=step,
                          metadata=TRUTH_TABLE_METADATA)


def write(record, step, metadata):
  """Writes one record of scalars and histograms to the default writer, a tf.summary.write each.

  Returns whether all were written (False without a default writer), as tf.summary.write does.
  """
  written = tf.constant(True)
  for tag, value in record.items():
    written = tf.summary.write(tag, value, step=step, metadata=metadata[tag]) & written
  return written


def write_scalars(writer, scalars):
  """Writes many scalars to `writer` in one compiled call; each tag's metadata with its first.

  A sweep's trial holds its curve and metrics, ~40 scalars: one `tf.summary.scalar` each costs
  ~0.5 ms eagerly, 10,000 trials minutes; this writes them all in about the time of one. The
  writer is an argument (its resource handle), not the default writer a tf.function would
  capture at its first trace, so one trace serves every writer.

  Args:
    writer: a `tf.summary.create_file_writer` writer.
    scalars: [(tag, step, value, description)] in the order to write; a tag's description is
      taken from its first entry (TensorBoard reads a tag's metadata from its first event).
  """
  handle = getattr(writer, "_resource", None)
  seen = set()
  metadata = []
  for tag, _, _, description in scalars:
    metadata.append(b"" if tag in seen else
                    scalar_metadata_for(description).SerializeToString())
    seen.add(tag)
  tags_, steps, values, _ = zip(*scalars) if scalars else ((), (), (), ())
  if handle is None:  # a TensorFlow whose writers keep their handle elsewhere: one op each
    with writer.as_default():
      for tag, step, value, meta in zip(tags_, steps, values, metadata):
        tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=meta or None)
    return
  _write_scalars(handle, tf.constant(tags_, tf.string), tf.constant(steps, tf.int64),
                 tf.constant(values, tf.float32), tf.constant(metadata, tf.string))


@tf.function(autograph=False, input_signature=[
    tf.TensorSpec([], tf.resource), tf.TensorSpec([None], tf.string),
    tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.float32),
    tf.TensorSpec([None], tf.string)])
def _write_scalars(writer, tags_, steps, values, metadata):
  def write_one(i):
    written = tf.raw_ops.WriteSummary(writer=writer, step=steps[i], tensor=values[i],
                                      tag=tags_[i], summary_metadata=metadata[i])
    with tf.control_dependencies([written]):  # in order
      return [i + 1]

  return tf.while_loop(lambda i: i < tf.size(tags_), write_one, [tf.constant(0)])
