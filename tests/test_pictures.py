"""The pictures: grid geometry, colours, where things are drawn, and that they compile with XLA."""

import numpy as np
import pytest
import tensorflow as tf

from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import models
from xor_tf import pictures
from xor_tf import summaries

BLUE, RED = (tuple(c) for c in pictures.CLASS_COLORS)
WHITE = (247, 247, 247)  # the colour map's middle
OUTLINE = tuple(pictures.OUTLINE)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pixel(image, row, col):
  return tuple(int(v) for v in np.asarray(image)[0, row, col])


def field(fn, size=pictures.GRID):
  """fn(x1, x2) evaluated at the grid points, as a [size * size, 1] probability tensor."""
  x = pictures.grid_points(size).numpy()
  return tf.constant(fn(x[:, 0], x[:, 1])[:, None], tf.float32)


def test_grid_is_row_major_with_x2_up_and_covers_the_margin():
  x = pictures.grid_points(4, lo=-0.5, hi=1.5).numpy()
  assert x.shape == (16, 2) and x.dtype == np.float32
  centres = [-0.25, 0.25, 0.75, 1.25]  # pixel centres of [-0.5, 1.5] cut in 4
  np.testing.assert_allclose(x[0], [centres[0], centres[-1]])  # top left
  np.testing.assert_allclose(x[3], [centres[-1], centres[-1]])  # top right
  np.testing.assert_allclose(x[12], [centres[0], centres[0]])  # bottom left
  np.testing.assert_allclose(x[15], [centres[-1], centres[0]])  # bottom right
  default = pictures.grid_points().numpy()
  assert pictures.GRID >= 64 and default.shape == (pictures.GRID ** 2, 2)
  half = 1.0 / pictures.GRID  # half a pixel of the 2-wide square
  np.testing.assert_allclose([default.min(), default.max()], [-0.5 + half, 1.5 - half])


def test_colormap_is_blue_white_red_and_clips():
  rgb = pictures.colormap(tf.constant([0.0, 0.5, 1.0, -3.0, 7.0, np.nan]))
  assert rgb.dtype == tf.uint8 and rgb.shape == (6, 3)
  assert [tuple(c) for c in rgb.numpy()] == [BLUE, WHITE, RED, BLUE, RED, WHITE]
  ramp = pictures.colormap(tf.linspace(0.0, 1.0, 101)).numpy().astype(int)
  red, blue, brightness = ramp[:, 0], ramp[:, 2], ramp.sum(axis=1)
  assert np.all(blue[:50] > red[:50]) and np.all(red[51:] > blue[51:])  # which side
  # Lighter towards 0.5 (unsure), darker towards 0 and 1 (sure).
  assert np.all(np.diff(brightness[:51]) >= 0) and np.all(np.diff(brightness[50:]) <= 0)
  assert pictures.colormap(tf.zeros([2, 3, 4])).shape == (2, 3, 4, 3)


def test_decision_boundary_puts_x1_to_the_right_and_draws_the_half_line():
  size = pictures.GRID
  image = pictures.decision_boundary(field(lambda x1, x2: np.clip(x1, 0, 1)), size)
  top, left, side = pictures.boundary_plot_box()
  assert image.dtype == tf.uint8 and image.shape[0] == 1 and image.shape[-1] == 3
  for row in (top, top + side // 2, top + side - 1):
    assert pixel(image, row, left) == BLUE and pixel(image, row, left + side - 1) == RED
  # x1 = 0.5 is halfway across [-0.5, 1.5]: the p = 0.5 line, anti-aliased, darkest there.
  line = left + side // 2
  for row in (top + 20, top + side // 2, top + side - 20):
    darkness = [sum(pixel(image, row, col)) for col in range(line - 4, line + 4)]
    assert min(darkness) == 3 * int(pictures.CONTOUR[0]), row
    assert line - 2 <= line - 4 + int(np.argmin(darkness)) <= line + 1, row
  assert pixel(image, top + 20, line - 4) != tuple(pictures.CONTOUR)
  assert pixel(image, top + 20, line + 4) != tuple(pictures.CONTOUR)

  up = pictures.decision_boundary(field(lambda x1, x2: np.clip(x2, 0, 1)), size)
  assert pixel(up, top, left + side // 2) == RED
  assert pixel(up, top + side - 1, left + side // 2) == BLUE


def marker_pixel(x1, x2):
  """The pixel whose top-left corner is the point (x1, x2) of [-0.5, 1.5]² in the picture."""
  top, left, side = pictures.boundary_plot_box()
  return top + round((1.5 - x2) / 2 * side), left + round((x1 + 0.5) / 2 * side)


@pytest.mark.parametrize("p", [0.5, 0.0, 1.0])
def test_xor_points_are_discs_in_their_class_colours_with_an_outline(p):
  image = pictures.decision_boundary(tf.fill([pictures.GRID ** 2], p))
  background = tuple(pictures.colormap(tf.constant(p)).numpy())
  for (x1, x2), (label,) in zip(data.INPUTS, data.LABELS):
    row, col = marker_pixel(x1, x2)
    colour = RED if label else BLUE
    # The four pixels around the point's exact position are the disc's centre.
    for r, c in ((row, col), (row - 1, col - 1), (row - 1, col), (row, col - 1)):
      assert pixel(image, r, c) == colour, (x1, x2, r, c)
    # Walking right from the centre: the fill, then the outline, then the background.
    walk = [pixel(image, row, col + k) for k in range(12)]
    assert walk[0] == colour and walk[-1] == background, (x1, x2)
    assert OUTLINE in walk, (x1, x2)
    assert walk.index(OUTLINE) < len(walk) - 1 - walk[::-1].index(background), (x1, x2)


def test_neuron_heatmaps_one_per_neuron_x1_right_x2_up():
  width = 10
  constant = np.tile(np.linspace(0, 1, width, dtype=np.float32), (pictures.GRID ** 2, 1))
  image = pictures.neuron_heatmaps(tf.constant(constant))
  assert image.dtype == tf.uint8 and image.shape[0] == 1 and image.shape[-1] == 3
  boxes = pictures.heatmap_boxes(width)
  assert len(boxes) == width
  expected = pictures.colormap(tf.linspace(0.0, 1.0, width)).numpy()
  for i, (top, left, side) in enumerate(boxes):
    # Neuron i's heatmap is its own colour: its corners and its middle row (x2 = 0.5, between
    # the XOR points' marks).
    for row, col in ((top, left), (top, left + side - 1), (top + side - 1, left),
                     (top + side - 1, left + side - 1)):
      assert pixel(image, row, col) == tuple(expected[i]), (i, row, col)
    middle = np.asarray(image)[0, top + side // 2, left:left + side]
    assert np.all(middle == expected[i]), i
  # Inside each heatmap x1 grows to the right and x2 upwards, as in the decision boundary.
  x = pictures.grid_points().numpy()
  oriented = pictures.neuron_heatmaps(tf.constant(np.clip(x, 0, 1)))
  (top, left, side), (top2, left2, side2) = pictures.heatmap_boxes(2)
  assert pixel(oriented, top + side // 2, left) == BLUE
  assert pixel(oriented, top + side // 2, left + side - 1) == RED
  assert pixel(oriented, top2, left2 + side2 // 2) == RED
  assert pixel(oriented, top2 + side2 - 1, left2 + side2 // 2) == BLUE
  one = pictures.neuron_heatmaps(tf.zeros([pictures.GRID ** 2, 1]))
  assert one.shape[0] == 1 and len(pictures.heatmap_boxes(1)) == 1


def test_packed_pixels_are_the_rgb_colours():
  values = tf.constant([0.0, 0.3, 0.5, 0.8, 1.0])
  packed = pictures.colormap_packed(values).numpy()
  rgb = pictures.colormap(values).numpy().astype(int)
  np.testing.assert_array_equal(
      packed, pictures.OPAQUE + rgb[:, 0] * 65536 + rgb[:, 1] * 256 + rgb[:, 2])
  np.testing.assert_array_equal(pictures.rgb(tf.constant(packed)).numpy(), rgb)


def test_colormap_lookup_is_the_interpolated_ramp():
  values = np.linspace(0.0, 1.0, 4097, dtype=np.float32)
  t = values * (len(pictures._TABLE) - 1)
  i = np.minimum(t.astype(int), len(pictures._TABLE) - 2)
  exact = (pictures._TABLE[i] * (1 - (t - i))[:, None] + pictures._TABLE[i + 1] * (t - i)[:, None])
  looked_up = pictures.colormap(tf.constant(values)).numpy().astype(float)
  assert np.abs(looked_up - exact).max() <= 1.0  # within one step of 255 per channel


def test_draw_compiles_with_xla_for_a_real_network():
  net = models.build(config_lib.Config(arch="deep"))
  params = {k: tf.convert_to_tensor(v) for k, v in net.params.items()}

  def draw(params):
    return pictures.draw(net.apply_columns, params)

  compiled = tf.function(draw, jit_compile=True)
  pictures_xla = compiled(params)
  pictures_eager = draw(params)
  assert set(pictures_xla) == {"layer1", "layer2", "layer3", "output", "hidden_space"}
  for name, image in pictures_xla.items():
    assert image.shape == pictures_eager[name].shape, name
    # XLA may fuse the float arithmetic differently: a colour may round one step apart.
    diff = np.abs(image.numpy().astype(int) - pictures_eager[name].numpy().astype(int))
    assert np.mean(diff > 1) < 1e-3 and diff.max() <= 4, name
  # What `apply` computes: the heatmaps are the layers' activations on the grid, the decision
  # boundary the output's logits there.
  logits, activations = net(pictures.grid_points())
  assert np.abs(pictures_eager["layer2"].numpy().astype(int) - pictures.neuron_heatmaps(
      activations["layer2"]).numpy().astype(int)).max() <= 1
  assert np.abs(pictures_eager["output"].numpy().astype(int) - pictures.decision_boundary(
      None, logits=logits).numpy().astype(int)).max() <= 1
  # Compiled, not silently run op by op: XLA gives the function a compiler IR.
  assert "HloModule" in compiled.experimental_get_compiler_ir(params)(stage="hlo")


def test_png():
  image = pictures.decision_boundary(tf.fill([pictures.GRID ** 2], 0.25))
  encoded = pictures.png(image)
  assert isinstance(encoded, bytes) and encoded.startswith(PNG_SIGNATURE)
  np.testing.assert_array_equal(tf.io.decode_png(encoded).numpy(), image[0].numpy())
  assert pictures.png(image[0]) == encoded
  with pytest.raises(ValueError, match="uint8 RGB"):
    pictures.png(tf.zeros([4, 4, 3]))


@pytest.mark.parametrize("width", [1, 5, 64])
def test_pictures_are_written_as_the_image_compiled_or_not(width):
  """What the training loop writes: int32 pixels turned into RGB inside its XLA function
  (`pictures.rgb`), then stored as PNG (`summaries.image_value`), which the image dashboard
  decodes back to exactly the image."""
  import io  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top (TensorBoard's image plugin's)
  image = tf.random.stateless_uniform([1, 3, width, 3], seed=[width, 0], maxval=256,
                                      dtype=tf.int32)
  image = tf.cast(image, tf.uint8)
  packed = pictures.OPAQUE + tf.reduce_sum(tf.cast(image, tf.int32) * [65536, 256, 1], axis=-1)
  eager = pictures.rgb(packed)
  compiled = tf.function(pictures.rgb, jit_compile=True)(packed)
  np.testing.assert_array_equal(eager.numpy(), image.numpy())
  np.testing.assert_array_equal(compiled.numpy(), image.numpy())
  stored = summaries.image_value(compiled).numpy()
  assert list(stored[:2]) == [str(width).encode(), b"3"]  # width, height
  assert stored[2].startswith(PNG_SIGNATURE)
  np.testing.assert_array_equal(tf.io.decode_png(stored[2]).numpy(), image[0].numpy())
  with Image.open(io.BytesIO(stored[2])) as opened:
    assert opened.format == "PNG" and opened.mode == "RGB"  # opaque: no alpha channel
    np.testing.assert_array_equal(np.asarray(opened), image[0].numpy())


@pytest.mark.parametrize("arch", ["logistic", "concat", "nn", "deep"])
def test_apply_columns_is_apply_transposed(arch):
  net = models.build(config_lib.Config(arch=arch))
  params = {k: tf.convert_to_tensor(v) for k, v in net.params.items()}
  points = pictures.grid_points(8)
  logits, activations = net.apply(params, points)
  logits_t, columns = net.apply_columns(params, tf.transpose(points))
  np.testing.assert_allclose(tf.transpose(logits_t).numpy(), logits.numpy(), rtol=1e-5,
                             atol=1e-6)
  assert list(columns) == list(activations)
  for name, value in activations.items():
    np.testing.assert_allclose(tf.transpose(columns[name]).numpy(), value.numpy(), rtol=1e-5,
                               atol=1e-6, err_msg=name)


def test_keras_pictures_are_the_hand_built_networks():
  """`keras` and `deep` start from the same weights, so their grid passes must agree.

  KerasNetwork.apply_columns runs the Keras layers on the transposed points; the hand-built
  network runs its own column-wise forward pass. (The Keras case of the test above would only
  compare `apply` with itself, transposed twice.)
  """
  points = tf.transpose(pictures.grid_points(8))
  passes = []
  for arch in ("deep", "keras"):
    net = models.build(config_lib.Config(arch=arch))
    passes.append(net.apply_columns({k: tf.convert_to_tensor(v) for k, v in net.params.items()},
                                    points))
  (logits, activations), (keras_logits, keras_activations) = passes
  np.testing.assert_allclose(keras_logits.numpy(), logits.numpy(), rtol=1e-5, atol=1e-6)
  assert list(keras_activations) == list(activations)
  for name, value in activations.items():
    np.testing.assert_allclose(keras_activations[name].numpy(), value.numpy(), rtol=1e-5,
                               atol=1e-6, err_msg=name)
