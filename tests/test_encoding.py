"""Summaries laid out as bytes in XLA are what tf.summary.write writes, tag by tag."""

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_file_loader

from xor_tf import encoding
from xor_tf import pictures
from xor_tf import summaries


def a_record():
  return {
      "loss": tf.constant(0.6931, tf.float32),
      "gradient_norm/layer1": tf.constant(3.5, tf.float32),
      "weights/layer1/kernel": summaries.histogram_buckets(
          tf.random.stateless_normal([2, 10], seed=[1, 2])),
      "activations/output": summaries.histogram_buckets(tf.constant([0.1, 0.9, 0.9, 0.1])),
      # 8-byte values take two words each; a NaN's payload and a denormal keep their bits.
      "double": tf.constant([np.pi, -0.0, 5e-324, np.inf], tf.float64),
      "big": tf.constant([2 ** 40 + 7, -2 ** 62], tf.int64),
      "odd_floats": tf.bitcast(tf.constant([0x7FC12345, 1, -1], tf.int32), tf.float32),
      "pictures/layer1": pictures.neuron_tiles_packed(
          tf.random.stateless_uniform([3, pictures.TILE ** 2], seed=[3, 4])),
  }


def layout_of(record):
  metadata = {tag: summaries.metadata_for(tag, value) for tag, value in record.items()}
  return encoding.Layout({t: v.dtype for t, v in record.items()},
                         {t: v.shape for t, v in record.items()}, metadata), metadata


def values_in(logdir):
  """{tag: Summary.Value} of every summary in logdir's one event file."""
  path, = tf.io.gfile.glob(f"{logdir}/events.out.tfevents.*")
  return {value.tag: value for event in event_file_loader.LegacyEventFileLoader(path).Load()
          for value in event.summary.value}


def test_the_same_values_as_tf_summary_write(tmp_path):
  record = a_record()
  layout, metadata = layout_of(record)
  encoded = tf.function(layout.encode, jit_compile=True)(record)
  assert encoded.dtype == tf.int32 and encoded.shape == [layout.size]

  ours = tmp_path / "ours"
  with tf.summary.create_file_writer(str(ours)).as_default() as writer:
    tf.summary.experimental.write_raw_pb(layout.summaries(encoded), step=7)
  writer.close()
  theirs = tmp_path / "theirs"
  with tf.summary.create_file_writer(str(theirs)).as_default() as writer:
    for tag, value in record.items():
      if tag.startswith("pictures/"):  # the image dashboard's [width, height, image bytes]
        value = tf.constant([str(value.shape[2]).encode(), str(value.shape[1]).encode(),
                             pictures.bmp(value).numpy().tobytes()])
      tf.summary.write(tag, value, step=7, metadata=metadata[tag])
  writer.close()

  ours, theirs = values_in(ours), values_in(theirs)
  assert list(ours) == list(record)  # one event, in the layout's order
  for tag in record:
    assert ours[tag] == theirs[tag], tag


def test_zero_lengths_leave_tags_out(tmp_path):
  record = a_record()
  layout, _ = layout_of(record)
  encoded = layout.encode(record)
  keep = [tag in ("loss", "pictures/layer1") for tag in layout.tags]
  lengths = tf.where(keep, tf.constant(layout.lengths), 0)
  with tf.summary.create_file_writer(str(tmp_path)).as_default() as writer:
    tf.summary.experimental.write_raw_pb(layout.summaries(encoded, lengths), step=3)
  writer.close()
  values = values_in(tmp_path)
  assert list(values) == ["loss", "pictures/layer1"]
  width, height, image = tf.make_ndarray(values["pictures/layer1"].tensor)
  np.testing.assert_array_equal(tf.io.decode_bmp(image, channels=3).numpy(),
                                pictures.rgb(record["pictures/layer1"])[0].numpy())
  assert (int(width), int(height)) == (record["pictures/layer1"].shape[2],
                                       record["pictures/layer1"].shape[1])


def test_encoding_part_of_the_tags_gives_their_bytes():
  record = a_record()
  layout, _ = layout_of(record)
  whole = layout.encode(record).numpy()
  first, rest = layout.tags[:2], layout.tags[2:]
  parts = np.concatenate([layout.encode(record, first).numpy(),
                          layout.encode(record, rest).numpy()])
  np.testing.assert_array_equal(parts, whole)


def test_tags_left_out_in_between_are_refused():
  record = a_record()
  layout, _ = layout_of(record)
  with pytest.raises(ValueError, match="consecutive"):
    layout.encode(record, [layout.tags[0], layout.tags[2]])
  with pytest.raises(ValueError, match="consecutive"):
    layout.encode(record, ["loss", "no/such/tag"])


def test_a_picture_must_be_packed_pixels():
  record = {"pictures/layer1": pictures.neuron_tiles(tf.zeros([pictures.TILE ** 2, 2]))}
  with pytest.raises(ValueError, match="int32 pixels .* received uint8"):
    layout_of(record)


def test_a_value_of_another_shape_or_type_is_refused():
  record = a_record()
  layout, _ = layout_of(record)
  with pytest.raises(ValueError, match=r"'loss' of shape \[\]; received \[2\]"):
    layout.encode(dict(record, loss=tf.constant([1.0, 2.0])))
  with pytest.raises(ValueError, match="received uint32"):
    layout_of({"count": tf.constant(3, tf.uint32)})
