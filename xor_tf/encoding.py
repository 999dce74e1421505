"""A logging step's summaries as the bytes of Summary protocol buffers, laid out inside XLA.

`tf.summary.write` costs a graph op, an Event and a file record per tag, and at one logging step
every 100 training steps that writing, not the training, set the pace. But every tensor a
logging step records has a shape known when tracing, so its serialized `Summary.Value` has a
fixed layout: constant bytes (tag, dtype, shape, plugin metadata) around the tensor's raw
little-endian bytes. `Layout.encode` lays a whole record out with XLA ops (bitcast, concat);
`Layout.summaries` cuts those bytes, outside XLA, into one serialized Summary per tag, and
`tf.summary.experimental.write_raw_pb` writes the ones wanted as a single event. What lands in
the event file is what `tf.summary.write` would have written, tag by tag, metadata included.

Pictures, uint8 images inside the loop, are stored as the image dashboard's string [3] tensor
(width, height, image bytes) with the image as a BMP (`pictures.bmp`), whose length is fixed.
"""

import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.proto import tensor_pb2
from tensorboard.compat.proto import types_pb2

from xor_tf import pictures
from xor_tf import tags

_DTYPES = {tf.float32: types_pb2.DT_FLOAT, tf.float64: types_pb2.DT_DOUBLE,
           tf.int32: types_pb2.DT_INT32, tf.int64: types_pb2.DT_INT64}


def _shape_proto(shape):
  proto = tensor_pb2.TensorProto().tensor_shape
  for size in shape:
    proto.dim.add(size=size)
  return proto


def _serialized_value(tag, dtype, shape, metadata, content):
  """A Summary holding one value whose variable bytes are `content`, serialized."""
  if tags.is_picture(tag):
    _, height, width, _ = shape
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=_shape_proto([3]),
                                    string_val=[str(width).encode(), str(height).encode(),
                                                content])
  else:
    tensor = tensor_pb2.TensorProto(dtype=_DTYPES[dtype], tensor_shape=_shape_proto(shape),
                                    tensor_content=content)
  value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
  value.metadata.ParseFromString(metadata)
  return summary_pb2.Summary(value=[value]).SerializeToString()


def content_length(tag, dtype, shape):
  """How many variable bytes a tag's value has: its tensor's, or its picture's BMP's."""
  if tags.is_picture(tag):
    return pictures.bmp_length(shape[1], shape[2])
  return int(np.prod(shape, dtype=np.int64)) * tf.as_dtype(dtype).size


def _split(tag, dtype, shape, metadata):
  """(bytes before, bytes after) a value's variable bytes in its serialized Summary.

  Found by serializing the value with all-0 and all-255 content: the bytes that differ are the
  content, and everything else is the same whatever the content is.
  """
  n = content_length(tag, dtype, shape)
  if n == 0:
    raise ValueError(f"The summary of {tag!r} has no bytes to write: shape {shape}.")
  zeros = _serialized_value(tag, dtype, shape, metadata, b"\0" * n)
  ones = _serialized_value(tag, dtype, shape, metadata, b"\xff" * n)
  differ = [i for i, (a, b) in enumerate(zip(zeros, ones)) if a != b]
  if len(zeros) != len(ones) or differ != list(range(differ[0], differ[0] + n)):
    raise ValueError(f"The summary of {tag!r} has no fixed layout.")
  return zeros[:differ[0]], zeros[differ[0] + n:]


def _metadata_bytes(metadata):
  return metadata if isinstance(metadata, bytes) else metadata.SerializeToString()


class Layout:
  """Where each tag's Summary lies in the bytes of a record, for records of fixed shapes.

  Args:
    dtypes: {tag: tf.DType} of the record, in the order the bytes hold them.
    shapes: {tag: static shape}; pictures are uint8 images [1, H, W, 3].
    metadata: {tag: SummaryMetadata (proto or serialized)}: which dashboard shows the tag.
  """

  def __init__(self, dtypes, shapes, metadata):
    self.tags = list(dtypes)
    self._parts = []  # per tag: (constant bytes before, constant bytes after)
    offsets, lengths = [], []
    offset = 0
    for tag in self.tags:
      before, after = _split(tag, dtypes[tag], list(shapes[tag]), _metadata_bytes(metadata[tag]))
      self._parts.append((before, after))
      length = len(before) + content_length(tag, dtypes[tag], list(shapes[tag])) + len(after)
      offsets.append(offset)
      lengths.append(length)
      offset += length
    self.length = offset
    self._template = b"".join(
        before + b"\0" * (length - len(before) - len(after)) + after
        for (before, after), length in zip(self._parts, lengths))
    self.offsets, self.lengths = offsets, lengths
    # tf.io.serialize_tensor of the uint8 bytes is a TensorProto whose content comes last,
    # after a header whose length depends only on self.length.
    with tf.init_scope():
      serialized = tf.io.serialize_tensor(tf.zeros([self.length], tf.uint8)).numpy()
    self._header = len(serialized) - self.length

  def encode(self, record, only=None):
    """The bytes of every tag's serialized Summary, one after another, with XLA-compilable ops.

    Args:
      record: {tag: tensor} with the dtypes and shapes of the layout.
      only: the tags to encode (default: all), consecutive in the layout; the bytes of two
        runs of consecutive tags, one after the other, are those of both together.

    Returns:
      uint8 [sum of those tags' lengths] (self.length for all).
    """
    # A constant holding every constant byte, into which each tag's bytes are copied: XLA on
    # CPU emits a concat of dozens of small parts as a select per byte, ~15x slower.
    chosen = [i for i, tag in enumerate(self.tags) if only is None or tag in only]
    if not chosen or chosen != list(range(chosen[0], chosen[-1] + 1)) or (
        only is not None and len(chosen) != len(set(only))):
      raise ValueError(f"Expected tags of this layout, consecutive in it ({self.tags}); "
                       f"received {only}.")
    start = self.offsets[chosen[0]]
    end = self.offsets[chosen[-1]] + self.lengths[chosen[-1]]
    encoded = tf.constant(np.frombuffer(self._template[start:end], np.uint8))
    for i in chosen:
      tag = self.tags[i]
      value = record[tag]
      if tags.is_picture(tag):
        content = pictures.bmp(value)
      else:
        content = tf.reshape(tf.bitcast(value, tf.uint8), [-1])
      at = self.offsets[i] + len(self._parts[i][0]) - start
      n = content.shape[0]
      encoded = tf.raw_ops.TensorStridedSliceUpdate(input=encoded, begin=[at], end=[at + n],
                                                    strides=[1], value=content)
    return encoded

  def summaries(self, encoded, lengths=None):
    """Cuts `encode`'s bytes into one serialized Summary per tag: string [len(self.tags)].

    Outside XLA (XLA has no strings): the uint8 tensor becomes one string by serializing it,
    and one substr op takes each tag's bytes out of that.

    Args:
      encoded: uint8 [self.length], from `encode`.
      lengths: int32 [len(self.tags)], each tag's length (self.lengths) or 0 to leave the tag
        out: an empty string is an empty Summary, which adds nothing to an event.
    """
    serialized = tf.io.serialize_tensor(encoded)
    positions = tf.constant([self._header + o for o in self.offsets], tf.int32)
    if lengths is None:
      lengths = tf.constant(self.lengths, tf.int32)
    return tf.strings.substr(serialized, positions, lengths)
