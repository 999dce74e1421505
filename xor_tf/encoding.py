"""A logging step's summaries as Summary protocol buffers: raw values gathered in XLA.

`tf.summary.write` costs a graph op, an Event and a file record per tag, and at one logging step
every 100 training steps that writing, not the training, set the pace. But every tensor a
logging step records has a shape known when tracing, so its serialized `Summary` has a fixed
layout: constant bytes (tag, dtype, shape, plugin metadata) around the tensor's raw
little-endian bytes. `Layout.encode` gathers every tag's raw values into one int32 vector
inside XLA (a bitcast of each float32, no byte work, which XLA on CPU does slowly);
`Layout.summaries`, outside XLA, serializes that vector once, takes each tag's bytes out of it
and puts each tag's constant bytes around them: one serialized Summary per tag, and
`tf.summary.experimental.write_raw_pb` writes the ones wanted as a single event. What lands in
the event file is what `tf.summary.write` would have written, tag by tag, metadata included.

Pictures are int32 pixels [1, H, W] inside the loop (`pictures.draw_packed`), stored as
the image dashboard's string [3] tensor (width, height, image bytes) holding a 32-bit BMP: a
constant header (`pictures.bmp_header`, part of the tag's constant bytes) and then those
pixels' bytes as they are.
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
    _, height, width = shape[:3]
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


def _words(value):
  """A tensor's raw bytes as int32 words [n]: one per 4-byte value, two per 8-byte value."""
  if value.dtype != tf.int32:
    value = tf.bitcast(value, tf.int32)
  return tf.reshape(value, [-1])


class Layout:
  """Where each tag's values lie in a record's words, and the constant bytes around them.

  Args:
    dtypes: {tag: tf.DType} of the record, in the order the words hold them: 4- or 8-byte
      numbers; pictures int32 pixels (`pictures.draw_packed`).
    shapes: {tag: static shape}; pictures [1, H, W].
    metadata: {tag: SummaryMetadata (proto or serialized)}: which dashboard shows the tag.
  """

  def __init__(self, dtypes, shapes, metadata):
    self.tags = list(dtypes)
    befores, afters, sizes, lengths = [], [], [], []
    for tag in self.tags:
      dtype, shape = tf.as_dtype(dtypes[tag]), list(shapes[tag])
      if tags.is_picture(tag) and (dtype != tf.int32 or len(shape) != 3):
        raise ValueError(f"Expected the picture {tag!r} as int32 pixels [1, H, W]; "
                         f"received {dtype.name} {shape}.")
      if not tags.is_picture(tag) and dtype not in _DTYPES:
        raise ValueError(f"Expected one of {sorted(d.name for d in _DTYPES)} for {tag!r}; "
                         f"received {dtype.name}.")
      before, after = _split(tag, dtype, shape, _metadata_bytes(metadata[tag]))
      size = content_length(tag, dtype, shape)
      if tags.is_picture(tag):  # the BMP's header is constant: only its pixels vary
        header = pictures.bmp_header(shape[1], shape[2])
        before, size = before + header, size - len(header)
      befores.append(before)
      afters.append(after)
      sizes.append(size // 4)
      lengths.append(len(before) + size + len(after))
    self._befores, self._afters = befores, afters
    self._shapes = {tag: list(shapes[tag]) for tag in self.tags}
    self.sizes = sizes  # int32 words per tag
    self.offsets = list(np.cumsum([0] + sizes[:-1]))
    self.size = sum(sizes)
    self.lengths = lengths  # bytes of each tag's serialized Summary
    # tf.io.serialize_tensor of the int32 words is a TensorProto whose content, their bytes,
    # comes last, after a header whose length depends only on self.size.
    with tf.init_scope():
      serialized = tf.io.serialize_tensor(tf.zeros([self.size], tf.int32)).numpy()
    self._header = len(serialized) - 4 * self.size

  def encode(self, record, only=None):
    """The raw values of every tag, one after another, with XLA-compilable ops.

    Args:
      record: {tag: tensor} with the dtypes and shapes of the layout.
      only: the tags to encode (default: all), consecutive in the layout; the words of two
        runs of consecutive tags, one after the other, are those of both together.

    Returns:
      int32 [sum of those tags' sizes] (self.size for all).
    """
    chosen = [i for i, tag in enumerate(self.tags) if only is None or tag in only]
    if not chosen or chosen != list(range(chosen[0], chosen[-1] + 1)) or (
        only is not None and len(chosen) != len(set(only))):
      raise ValueError(f"Expected tags of this layout, consecutive in it ({self.tags}); "
                       f"received {only}.")
    for i in chosen:  # a wrong shape would shift every later tag's bytes
      tag = self.tags[i]
      if record[tag].shape.as_list() != self._shapes[tag]:
        raise ValueError(f"Expected {tag!r} of shape {self._shapes[tag]}; received "
                         f"{record[tag].shape.as_list()}.")
    return tf.concat([_words(record[self.tags[i]]) for i in chosen], axis=0)

  def summaries(self, encoded, lengths=None):
    """One serialized Summary per tag of `encode`'s words: string [len(self.tags)].

    Outside XLA (XLA has no strings): the words become one string by serializing them, one
    substr op takes each tag's bytes out of that, and one join puts the constant bytes around.

    Args:
      encoded: int32 [self.size], from `encode`.
      lengths: int32 [len(self.tags)], each tag's length (self.lengths) or 0 to leave the tag
        out: an empty string is an empty Summary, which adds nothing to an event.
    """
    serialized = tf.io.serialize_tensor(encoded)
    contents = tf.strings.substr(
        serialized, tf.constant([self._header + 4 * o for o in self.offsets], tf.int32),
        tf.constant([4 * n for n in self.sizes], tf.int32))
    joined = tf.strings.join([tf.constant(self._befores), contents, tf.constant(self._afters)])
    if lengths is None:
      return joined
    return tf.where(lengths > 0, joined, "")
