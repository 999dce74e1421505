"""The pictures a learner reads: keys, axes, numbers, the smooth contour, the hidden layer's view.

Proved against the networks' own forward passes and NumPy: where the hidden layer puts each XOR
point, which side of the output's line it lies on, where the output crosses 0.5.
"""

import numpy as np
import pytest
import tensorflow as tf

from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import models
from xor_tf import pictures
from xor_tf import summaries
from xor_tf import tags

BLUE, RED = (tuple(int(v) for v in c) for c in pictures.CLASS_COLORS)
TEXT = tuple(int(v) for v in pictures.TEXT)
CONTOUR = tuple(int(v) for v in pictures.CONTOUR)
# TensorBoard 2.21's Time Series image card at its default size, measured in headless Chromium
# at 1400 x 900: the box an image is scaled (pixelated, aspect kept) to fit.
CARD_BOX = (303, 214)


def solved_net(extra_unit=False):
  """A 2-2-1 sigmoid net that solves XOR by hand: h1 ~ OR, h2 ~ NAND, output ~ AND of them.

  extra_unit: a 2-3-1 net instead, whose third unit barely moves the output (still solved).
  """
  net = models.build(config_lib.Config(arch="nn", hidden=(3,) if extra_unit else ()))
  kernel1 = [[10.0, -10.0], [10.0, -10.0]]
  bias1 = [-5.0, 15.0]
  kernel2 = [[10.0], [10.0]]
  if extra_unit:
    kernel1, bias1 = [[10.0, -10.0, 1.0], [10.0, -10.0, -1.0]], bias1 + [0.0]
    kernel2 = kernel2 + [[0.5]]
  for name, value in (("layer1/kernel", kernel1), ("layer1/bias", bias1),
                      ("layer2/kernel", kernel2), ("layer2/bias", [-15.0])):
    net.params[name].assign(value)
  return net


def tensors(net):
  return {k: tf.convert_to_tensor(v) for k, v in net.params.items()}


def forward(net, x):
  """NumPy, float64: (hidden activations [N, k], logits [N]) of a 2-k-1 sigmoid net."""
  p = {k: v.numpy().astype(np.float64) for k, v in net.params.items()}
  h = 1 / (1 + np.exp(-(x @ p["layer1/kernel"] + p["layer1/bias"])))
  return h, (h @ p["layer2/kernel"] + p["layer2/bias"])[:, 0]


def image_of(picture):
  return np.asarray(pictures.rgb(picture))[0].astype(int)


def is_colour(image, colour):
  return np.all(image == np.asarray(colour), axis=-1)


@pytest.fixture(scope="module")
def nets():
  """The hand-solved 2-2-1 net, and the initial (unsolved) weights of seeds 0 and 2."""
  return {"solved": solved_net(), **{f"seed{s}": models.build(config_lib.Config(arch="nn", seed=s))
                                     for s in (0, 2)}}


@pytest.fixture(scope="module")
def drawn(nets):
  """Every net's pictures, drawn as the training loop does: compiled with XLA (once: the nets
  share a shape, so one net's apply_columns serves all their parameters)."""
  apply_columns = nets["solved"].apply_columns
  compiled = tf.function(lambda p: pictures.draw_packed(apply_columns, p), jit_compile=True)
  return {name: {k: image_of(v) for k, v in compiled(tensors(net)).items()}
          for name, net in nets.items()}


@pytest.mark.parametrize("name", ["solved", "seed0", "seed2"])
def test_hidden_space_points_sit_at_the_hidden_activations(nets, drawn, name):
  image = drawn[name][tags.HIDDEN_SPACE]
  top, left, side, (lo, hi) = pictures.hidden_plot_box((0.0, 1.0), 2)
  h, _ = forward(nets[name], data.INPUTS.astype(np.float64))
  cols = (h[:, 0] - lo) / (hi - lo) * side
  rows = (hi - h[:, 1]) / (hi - lo) * side
  labels = data.LABELS[:, 0].astype(int)
  for i in range(4):
    # Target-1 discs are drawn on top: a red point within reach hides a blue one's centre.
    near_red = any(labels[j] and np.hypot(rows[j] - rows[i], cols[j] - cols[i]) < 3
                   for j in range(4))
    colour = RED if labels[i] or near_red else BLUE
    r, c = top + int(np.floor(rows[i])), left + int(np.floor(cols[i]))
    window = image[r - 1:r + 2, c - 1:c + 2]
    assert is_colour(window, colour).any(), (name, i, h[i])
  # Nowhere else in the plot is a whole disc's worth of a class colour.
  plot = image[top:top + side, left:left + side]
  for colour, targets in ((RED, labels == 1), (BLUE, labels == 0)):
    ys, xs = np.nonzero(is_colour(plot, colour))
    distance = np.min(np.hypot(ys[:, None] + 0.5 - rows[targets],
                               xs[:, None] + 0.5 - cols[targets]), axis=1)
    assert distance.max() < pictures.HIDDEN_RADII[0], name


def line_pixels(image, top, left, side):
  """Pixel centres (row, col) of the plot that are fully the p = 0.5 line's colour."""
  ys, xs = np.nonzero(is_colour(image[top:top + side, left:left + side], CONTOUR))
  return np.stack([ys + 0.5, xs + 0.5], axis=1)


def sides_of(points, line):
  """Which side of the straight line through `line` (pixel centres) each point is on: ±1."""
  centre = line.mean(axis=0)
  _, _, vt = np.linalg.svd(line - centre)
  normal = vt[1]
  return np.sign((points - centre) @ normal), centre, normal


@pytest.mark.parametrize("name", ["solved", "seed0", "seed2"])
def test_each_point_lies_on_the_side_of_the_line_that_matches_the_nets_label(nets, drawn, name):
  image = drawn[name][tags.HIDDEN_SPACE]
  top, left, side, (lo, hi) = pictures.hidden_plot_box((0.0, 1.0), 2)
  h, logits = forward(nets[name], data.INPUTS.astype(np.float64))
  line = line_pixels(image, top, left, side)
  if len(line) < 20:
    kernel, bias = pictures.output_unit(tensors(nets[name]))
    corners = np.array([[lo, lo], [lo, hi], [hi, lo], [hi, hi]])
    logit_corners = corners @ kernel.numpy()[:, 0] + bias.numpy()[0]
    assert np.all(logit_corners > 0) or np.all(logit_corners < 0), name  # really off the plot
    pytest.skip(f"{name}: the output's 0.5 line does not cross the plot")
  # The drawn pixels are one straight line: the output unit's w·h + b = 0.
  side_of_points, centre, normal = sides_of(
      np.stack([(hi - h[:, 1]) / (hi - lo) * side, (h[:, 0] - lo) / (hi - lo) * side], axis=1),
      line)
  assert np.abs((line - centre) @ normal).max() < 1.5, name
  # Which side is "1": the background 12 px along the normal is red-tinted there.
  probe = np.round(centre + 12 * normal).astype(int)
  probe = np.clip(probe, 0, side - 1)
  r, g, b = image[top + probe[0], left + probe[1]]
  positive = 1 if r > b else -1
  np.testing.assert_array_equal(side_of_points * positive, np.where(logits > 0, 1, -1), name)
  if name == "solved":  # right on all four: the line separates the targets
    np.testing.assert_array_equal(side_of_points * positive, np.where(data.LABELS[:, 0] > 0, 1, -1))


def test_a_wider_layer_is_seen_with_the_output_line_upright_and_the_targets_apart():
  net = solved_net(extra_unit=True)
  image = image_of(pictures.draw_packed(net.apply_columns, tensors(net))[tags.HIDDEN_SPACE])
  top, left, side, span = pictures.hidden_plot_box((0.0, 1.0), 3)
  assert span is None  # fitted to the points, axes u and v
  line = line_pixels(image, top, left, side)
  assert len(line) > side // 2
  column = np.median(line[:, 1])
  assert np.abs(line[:, 1] - column).max() <= 1.0  # upright: u is along the output weights
  plot = image[top:top + side, left:left + side]
  red_cols = np.nonzero(is_colour(plot, RED))[1]
  blue_cols = np.nonzero(is_colour(plot, BLUE))[1]
  assert len(red_cols) and len(blue_cols)
  assert red_cols.min() > column > blue_cols.max()  # u grows with the output's logit


@pytest.mark.parametrize("arch", ["concat", "deep"])
def test_the_hidden_layer_drawn_is_the_one_the_output_reads(arch):
  net = models.build(config_lib.Config(arch=arch, seed=3))
  params = tensors(net)
  points = tf.transpose(tf.constant(data.INPUTS))
  logits, columns = net.apply_columns(params, points)
  kernel, bias = pictures.output_unit(params)
  hidden = pictures.last_hidden(columns, kernel.shape[0])
  np.testing.assert_allclose(tf.transpose(kernel) @ hidden + bias, logits, rtol=1e-5, atol=1e-5)
  assert tags.HIDDEN_SPACE in pictures.draw_packed(net.apply_columns, params)


def test_logistic_has_no_hidden_space():
  net = models.build(config_lib.Config(arch="logistic"))
  assert set(pictures.draw_packed(net.apply_columns, tensors(net))) == {tags.OUTPUT}


def test_the_contour_is_where_the_output_crosses_one_half(nets, drawn):
  image = drawn["solved"][tags.OUTPUT]
  top, left, side = pictures.boundary_plot_box()
  # NumPy: the network's logit at every pixel centre of the plot.
  centres = pictures.LO + (pictures.HI - pictures.LO) * (np.arange(side) + 0.5) / side
  x1, x2 = np.meshgrid(centres, centres[::-1])
  _, logits = forward(nets["solved"], np.stack([x1.ravel(), x2.ravel()], axis=1))
  positive = (logits > 0).reshape(side, side)
  plot = image[top:top + side, left:left + side]
  away_from_markers = np.ones([side, side], bool)
  for x in data.INPUTS:
    r = (pictures.HI - x[1]) / (pictures.HI - pictures.LO) * side
    c = (x[0] - pictures.LO) / (pictures.HI - pictures.LO) * side
    away_from_markers &= np.hypot(*np.meshgrid(np.arange(side) + 0.5 - c,
                                               np.arange(side) + 0.5 - r)) > 8
  crossing = np.zeros([side, side], bool)  # a pixel with a neighbour on the other side
  crossing[:, :-1] |= positive[:, :-1] != positive[:, 1:]
  crossing[:, 1:] |= positive[:, :-1] != positive[:, 1:]
  crossing[:-1] |= positive[:-1] != positive[1:]
  crossing[1:] |= positive[:-1] != positive[1:]
  near_crossing = crossing.copy()
  for axis in (0, 1):
    for shift in (-1, 1):
      near_crossing |= np.roll(crossing, shift, axis=axis)
  dark = plot.max(axis=-1) < 100  # the line's colour, anti-aliased over half or more
  assert crossing.sum() > side  # the solved net has two lines across the plot
  # Every fully drawn line pixel is at a crossing, and every crossing has the line next to it.
  full = is_colour(plot, CONTOUR)
  assert full.sum() > side and not np.any(full & ~near_crossing)
  dark_near = dark.copy()
  for axis in (0, 1):
    for shift in (-1, 1):
      dark_near |= np.roll(dark, shift, axis=axis)
  assert np.all(dark_near[crossing & away_from_markers])
  # Smooth: the line is never a staircase of 64-grid cells (~2.5 px steps): one or two pixels
  # fully dark in each row it crosses once.
  rows_with_line = [r for r in range(side) if full[r].any()]
  runs = [np.diff(np.nonzero(full[r])[0]) for r in rows_with_line]
  assert np.mean([np.sum(run == 1) <= 2 for run in runs]) > 0.95


def test_the_colour_key_and_the_axis_marks_are_drawn():
  image = image_of(pictures.decision_boundary_packed(tf.fill([pictures.GRID ** 2], 0.5)))
  top, left, side = pictures.boundary_plot_box()
  digit = {d: pictures.text_bitmap(d) for d in ("0", "1", "0.5", "x1", "x2", "p")}

  def has_text(text, row, col):
    bitmap = digit[text]
    region = image[row:row + bitmap.shape[0], col:col + bitmap.shape[1]]
    if region.shape[:2] != bitmap.shape:
      return False
    return (np.all(is_colour(region, TEXT) == bitmap)
            and np.all(is_colour(region, (255, 255, 255)) == ~bitmap))

  def found(text, rows, cols):
    return any(has_text(text, r, c) for r in rows for c in cols)

  below = range(top + side + 1, top + side + 8)
  for value in ("0", "1"):  # x1's ticks at 0 and 1, a quarter and three quarters across
    col = left + int((float(value) - pictures.LO) / (pictures.HI - pictures.LO) * side)
    assert is_colour(image[top + side + 1:top + side + 4, col], TEXT).all()
    assert found(value, below, range(col - 4, col + 1)), value
    row = top + side - 1 - int((float(value) - pictures.LO) / (pictures.HI - pictures.LO) * side)
    assert is_colour(image[row, left - 4:left - 1], TEXT).all()
    assert found(value, range(row - 4, row), range(0, left)), value
  assert found("x1", below, range(left, left + side))
  assert found("x2", range(top, top + side), range(0, left))
  # The key: blue at 0, white at 0.5, red at 1 from bottom to top, labelled.
  key_col = left + side + 1 + pictures.KEY_GAP + pictures.KEY_WIDTH // 2
  assert np.abs(image[top + side - 1, key_col] - BLUE).max() <= 2  # the bottom row: p = 1/320
  assert np.abs(image[top, key_col] - RED).max() <= 2
  assert np.abs(image[top + side // 2, key_col] - (247, 247, 247)).max() <= 2
  right = range(key_col - pictures.KEY_WIDTH, image.shape[1])
  assert found("1", range(top - 4, top + 1), right)
  assert found("0.5", range(top + side // 2 - 4, top + side // 2 + 1), right)
  assert found("0", range(top + side - 5, top + side), right)
  assert found("p", range(0, top), right)


def test_neuron_heatmaps_are_numbered_tiles_large_on_the_card():
  net = models.build(config_lib.Config(arch="deep", seed=1))
  _, activations = net(pictures.grid_points())
  image = image_of(pictures.neuron_heatmaps_packed(tf.transpose(activations["layer1"])))
  tile, per_row = pictures.heatmap_layout(10)
  assert (tile, per_row) == (48, 5)  # two rows of five, not a strip of ten
  height, width = image.shape[:2]
  shown = tile * min(CARD_BOX[0] / width, CARD_BOX[1] / height)
  assert shown >= 48 and width <= pictures.CARD[0] and height <= pictures.CARD[1]
  boxes = pictures.heatmap_boxes(10)
  assert len(boxes) == 10 and len({top for top, _, _ in boxes}) == 2
  values = activations["layer1"].numpy()
  for i, (top, left, side) in enumerate(boxes):
    number = pictures.text_bitmap(str(i + 1))
    label = image[top - pictures.LABEL_HEIGHT:top - pictures.LABEL_HEIGHT + number.shape[0],
                  left:left + number.shape[1]]
    assert np.array_equal(is_colour(label, TEXT), number), i
    # The tile's corner pixel is the neuron's activation at the grid's corner, coloured.
    expected = pictures.colormap(tf.constant(values[0, i])).numpy()
    assert np.abs(image[top, left] - expected).max() <= 2, i
  # The four XOR points marked in each tile, in their target's colour.
  top, left, side = boxes[0]
  for (x1, x2), (label,) in zip(data.INPUTS, data.LABELS):
    r = top + int((pictures.HI - x2) / (pictures.HI - pictures.LO) * side)
    c = left + int((x1 - pictures.LO) / (pictures.HI - pictures.LO) * side)
    assert tuple(image[r, c]) == (RED if label else BLUE), (x1, x2)


def test_each_picture_tag_says_what_its_colours_and_axes_mean():
  net = models.build(config_lib.Config(arch="nn"))
  record = summaries.draw(net.apply_columns, tensors(net))
  assert set(record) == {"pictures/decision_boundary", "pictures/layer1",
                         "pictures/hidden_space"}
  descriptions = {tag: summaries.metadata_for(tag, value).summary_description
                  for tag, value in record.items()}
  assert len(set(descriptions.values())) == 3
  assert "x1" in descriptions["pictures/decision_boundary"]
  assert "0.5" in descriptions["pictures/decision_boundary"]
  assert "layer1" in descriptions["pictures/layer1"]
  assert "h1" in descriptions["pictures/hidden_space"]
  for text in descriptions.values():
    assert "blue" in text and "red" in text


@pytest.mark.parametrize("activation", ["relu", "linear", "tanh"])
def test_every_activation_draws_in_a_graph(activation):
  """In a tf.function (as the training loop draws them), with the activation's own range: an
  unbounded one fits heatmaps and hidden_space to the values themselves."""
  net = models.build(config_lib.Config(arch="nn", activation=activation, seed=2))
  value_range = net.activation.picture_range
  graph = tf.function(lambda p: pictures.draw_packed(net.apply_columns, p,
                                                     value_range=value_range), autograph=False)
  drawn = {k: image_of(v) for k, v in graph(tensors(net)).items()}
  assert set(drawn) == {tags.OUTPUT, "layer1", tags.HIDDEN_SPACE}
  top, left, side, span = pictures.hidden_plot_box(value_range, 2)
  assert (span is None) == (None in value_range)
  # The four discs are inside the plot, fitted or not: every class colour is drawn.
  plot = drawn[tags.HIDDEN_SPACE][top:top + side, left:left + side]
  assert is_colour(plot, RED).sum() >= 2 * 9 and is_colour(plot, BLUE).sum() >= 2 * 9


@pytest.mark.parametrize("activation,labels", [
    ("sigmoid", ("0", "0.5", "1")), ("tanh", ("-1", "0", "1")), ("relu", ("0", "max")),
    ("linear", ("-max", "0", "max"))])
def test_neuron_heatmaps_have_a_key_of_their_activations_range(activation, labels):
  net = models.build(config_lib.Config(arch="nn", activation=activation, seed=1))
  value_range = net.activation.picture_range
  image = image_of(pictures.neuron_heatmaps_packed(
      tf.transpose(net(pictures.grid_points())[1]["layer1"]), value_range=value_range))
  assert tuple(label for _, label in pictures.heatmap_key_labels(value_range)) == labels
  # The key: the rows under the heatmaps, blue at its left end, white halfway, red at its right.
  top = image.shape[0] - pictures.MARGIN - pictures.HEATMAP_KEY_ZONE + pictures.KEY_GAP
  length = min(pictures.HEATMAP_KEY_LENGTH, image.shape[1] - 2 * pictures.MARGIN)
  row = image[top + pictures.KEY_WIDTH // 2, pictures.MARGIN:pictures.MARGIN + length]
  assert np.abs(row[0] - BLUE).max() <= 2 and np.abs(row[-1] - RED).max() <= 2
  assert np.abs(row[length // 2] - (247, 247, 247)).max() <= 4
  assert all(top >= t + side for t, _, side in pictures.heatmap_boxes(2))  # under the heatmaps
  # Each label in the text colour under its tick: at the left end, the middle, the right end.
  below = image[top + pictures.KEY_WIDTH + 1 + pictures.TICK + 1:][:pictures.FONT_HEIGHT]
  for fraction, label in pictures.heatmap_key_labels(value_range):
    bitmap = pictures.text_bitmap(label)
    col = pictures.MARGIN + min(length - 1, int(fraction * length))
    left = {0.0: col, 1.0: col + 1 - bitmap.shape[1]}.get(fraction, col - bitmap.shape[1] // 2)
    region = below[:, left:left + bitmap.shape[1]]
    assert np.array_equal(is_colour(region, TEXT), bitmap), label
