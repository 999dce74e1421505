"""Pictures of what a network computes over the input plane, drawn with XLA-compilable TF ops.

As TensorFlow Playground does, the network is evaluated on a grid of points covering the input
square with a margin: the grid is just a batch of GRID * GRID inputs to `apply`. Its output
probability becomes the decision-boundary picture and each hidden layer's activations become a
row of heatmaps, one per neuron. Everything up to the uint8 image uses only static shapes and
plain tensor ops (no tf.image, no py_function), so the training loop draws them in the compiled
function that records a logging step, and encodes them there too, as BMPs (`bmp`):
uncompressed, so a fixed-length byte layout that XLA can build. The picture saved at the end of
a run is a PNG (`png`).
"""

import functools
import struct

import numpy as np
import tensorflow as tf

from xor_tf import data
from xor_tf import tags

GRID = 64  # grid points per side: one picture is a forward pass on GRID * GRID = 4096 points
LO, HI = -0.5, 1.5  # the grid covers [LO, HI]², the XOR square [0, 1]² with a margin
# TensorBoard scales an image up to its card, pixelated, so pictures are kept small: they are
# stored uncompressed (BMP), and a run's event files should stay under a megabyte.
SCALE = 1  # decision-boundary pixels per grid point in TensorBoard (the saved PNG uses 4)
TILE_POOL = 4  # grid points averaged per side into one heatmap pixel: 64 -> 16 px per neuron
TILE_GAP = 1  # pixels between two neurons' heatmaps

# ColorBrewer RdBu, reversed so that 0 is blue and 1 is red. Designed for diverging data: the
# two ends have about the same lightness (L* 42 and 38) and 0.5 is near white (L* 97), so the
# picture shows how sure the network is, not just which side it picked, and it stays readable
# for the common forms of colour blindness.
_TABLE = np.array([
    [0x21, 0x66, 0xac], [0x43, 0x93, 0xc3], [0x92, 0xc5, 0xde], [0xd1, 0xe5, 0xf0],
    [0xf7, 0xf7, 0xf7],
    [0xfd, 0xdb, 0xc7], [0xf4, 0xa5, 0x82], [0xd6, 0x60, 0x4d], [0xb2, 0x18, 0x2b],
], np.float32)
CLASS_COLORS = _TABLE[[0, -1]].astype(np.uint8)  # label 0 blue, label 1 red: the map's ends
OUTLINE = np.array([17, 17, 17], np.uint8)  # marker outlines: dark on blue, white and red alike
CONTOUR = np.array([51, 51, 51], np.uint8)  # the p = 0.5 line
SEPARATOR = 64  # grey level between heatmaps: a near-white (p ~ 0.5) tile stays visible

# These functions have no tensor-dependent control flow, so AutoGraph, which the training
# loop's tf.function applies to everything it calls, has nothing to convert; skipping the
# conversion saves ~0.3 s of tracing per process.
_plain_tensor_ops = tf.autograph.experimental.do_not_convert


def grid_points(size=GRID, lo=LO, hi=HI):
  """The centres of a size x size grid of pixels covering [lo, hi]², row by row from the top.

  Row-major with the first row at the top: x1 grows to the right and x2 upwards, so the picture
  reads like a plot. Point k is pixel (k // size, k % size).

  Args:
    size: pixels per side.
    lo: the left and bottom edge of the picture.
    hi: the right and top edge.

  Returns:
    float32 tensor [size * size, 2] of (x1, x2) inputs.
  """
  centres = lo + (hi - lo) * (np.arange(size) + 0.5) / size
  x1, x2 = np.meshgrid(centres, centres[::-1])
  return tf.constant(np.stack([x1.ravel(), x2.ravel()], axis=1), tf.float32)


@_plain_tensor_ops
def colormap(values):
  """Maps values in [0, 1] to RGB colours: 0 blue, 0.5 near white, 1 red.

  Linear interpolation between the entries of a 9-colour ColorBrewer table. Values outside
  [0, 1] are clipped; NaN, which a diverged network can produce, is drawn as 0.5.

  Args:
    values: float tensor of any shape.

  Returns:
    uint8 tensor of shape values.shape + [3].
  """
  v = tf.cast(values, tf.float32)
  v = tf.clip_by_value(tf.where(tf.math.is_nan(v), 0.5, v), 0.0, 1.0)
  t = v * (len(_TABLE) - 1)
  i = tf.minimum(tf.cast(t, tf.int32), len(_TABLE) - 2)
  f = (t - tf.cast(i, tf.float32))[..., None]
  table = tf.constant(_TABLE)
  rgb = tf.gather(table, i) * (1.0 - f) + tf.gather(table, i + 1) * f
  return tf.cast(tf.round(rgb), tf.uint8)


def _upscale(image, scale, row_axis):
  """Nearest-neighbour upscaling of the two axes starting at row_axis by an integer factor."""
  if scale == 1:
    return image
  return tf.repeat(tf.repeat(image, scale, axis=row_axis), scale, axis=row_axis + 1)


@functools.lru_cache(maxsize=None)
def _markers(size, scale, lo, hi):
  """The four XOR points as outlined discs: (colours [H, W, 3] uint8, drawn [H, W, 1] bool).

  A constant for a given picture size, so it is computed once in NumPy and the compiled
  picture only selects between it and the background.
  """
  pixels = size * scale
  outer = max(3.0, 2.25 * scale)
  inner = outer - max(1.0, 0.5 * scale)
  centres = np.arange(pixels) + 0.5
  colours = np.zeros([pixels, pixels, 3], np.uint8)
  drawn = np.zeros([pixels, pixels], bool)
  for (x1, x2), (label,) in zip(data.INPUTS, data.LABELS.astype(int)):
    col = (x1 - lo) / (hi - lo) * pixels
    row = (hi - x2) / (hi - lo) * pixels
    distance = np.hypot(centres[:, None] - row, centres[None, :] - col)
    colours[distance < outer] = OUTLINE
    colours[distance < inner] = CLASS_COLORS[label]
    drawn |= distance < outer
  return colours, drawn[..., None]


@_plain_tensor_ops
def decision_boundary(probabilities, size=GRID, *, scale=SCALE, lo=LO, hi=HI):
  """The picture of the network's output probability over the grid, with the XOR points.

  Colour-mapped probability, a one-pixel dark line where it crosses 0.5, and the four XOR
  inputs as discs in their label's colour with a dark outline: a disc that stands out from
  the colour around it is a point the network gets wrong.

  Args:
    probabilities: float [size * size] or [size * size, 1], the output at `grid_points(size,
      lo, hi)`.
    size: the grid's pixels per side.
    scale: integer upscaling factor (nearest neighbour), so the markers and line are sharp.
    lo: the grid's lower edge, as given to grid_points.
    hi: the grid's upper edge.

  Returns:
    uint8 image [1, size * scale, size * scale, 3].
  """
  p = tf.reshape(probabilities, [size, size])
  image = _upscale(colormap(p), scale, 0)
  positive = _upscale(p > 0.5, scale, 0)
  # A pixel is on the line if its class differs from its right or lower neighbour.
  right = tf.pad(tf.not_equal(positive[:, :-1], positive[:, 1:]), [[0, 0], [0, 1]])
  below = tf.pad(tf.not_equal(positive[:-1, :], positive[1:, :]), [[0, 1], [0, 0]])
  image = tf.where((right | below)[..., None], tf.constant(CONTOUR), image)
  colours, drawn = _markers(size, scale, float(lo), float(hi))
  image = tf.where(tf.constant(drawn), tf.constant(colours), image)
  return image[None]


@_plain_tensor_ops
def neuron_tiles(activations, size=GRID, *, pool=TILE_POOL, scale=1, gap=TILE_GAP):
  """One heatmap per neuron of a layer, side by side, as TensorFlow Playground draws them.

  A sigmoid unit's activation is smooth over the plane, so each heatmap averages pool x pool
  grid points into one pixel: a row of small thumbnails that are cheap to encode and store.

  Args:
    activations: float [size * size, width], one layer's activations at `grid_points(size)`,
      values in [0, 1] (sigmoid units); the width must be known when tracing.
    size: the grid's pixels per side.
    pool: grid points averaged per side into one pixel; must divide size.
    scale: integer upscaling factor (nearest neighbour) after pooling.
    gap: grey pixels between two heatmaps.

  Returns:
    uint8 image [1, S, width * S + (width - 1) * gap, 3] where S = size // pool * scale;
    neuron i is the i-th heatmap from the left.

  Raises:
    ValueError: if pool does not divide size.
  """
  if size % pool:
    raise ValueError(f"pool must divide size; received pool={pool}, size={size}.")
  width = activations.shape[-1]
  cells = size // pool
  a = tf.reshape(tf.cast(activations, tf.float32), [cells, pool, cells, pool, width])
  tiles = colormap(tf.transpose(tf.reduce_mean(a, axis=[1, 3]), [2, 0, 1]))
  tiles = _upscale(tiles, scale, 1)  # [width, S, S, 3]
  side = cells * scale
  tiles = tf.pad(tiles, [[0, 0], [0, 0], [0, gap], [0, 0]], constant_values=SEPARATOR)
  row = tf.reshape(tf.transpose(tiles, [1, 0, 2, 3]), [side, width * (side + gap), 3])
  return row[None, :, :width * (side + gap) - gap]


@_plain_tensor_ops
def draw(activations, size=GRID):
  """Every picture of one forward pass on the grid: {layer name: uint8 image [1, H, W, 3]}.

  Args:
    activations: the activations dict of `apply(params, grid_points(size))`; its 'output'
      entry becomes the decision boundary, each other layer a row of neuron heatmaps.
    size: the grid's pixels per side.

  Returns:
    A dict with the same keys as `activations`.
  """
  return {name: decision_boundary(value, size) if name == tags.OUTPUT
                else neuron_tiles(value, size)
          for name, value in activations.items()}


def _bmp_header(height, width):
  """The 54 header bytes of a 24-bit BMP of that size (BITMAPFILEHEADER + BITMAPINFOHEADER)."""
  row = _bmp_row_bytes(width)
  pixels = row * height
  return struct.pack("<2sIHHI", b"BM", 54 + pixels, 0, 0, 54) + struct.pack(
      "<IiiHHIIiiII", 40, width, height, 1, 24, 0, pixels, 2835, 2835, 0, 0)


def _bmp_row_bytes(width):
  return (3 * width + 3) // 4 * 4  # each row is padded to a multiple of 4 bytes


def bmp_length(height, width):
  """Bytes of the BMP `bmp` makes of an image [1, height, width, 3]."""
  return 54 + _bmp_row_bytes(width) * height


@_plain_tensor_ops
def bmp(image):
  """The bytes of a 24-bit BMP file of one uint8 RGB image, with XLA-compilable ops.

  A BMP stores the rows bottom-up, each pixel as blue, green, red, each row padded to a
  multiple of four bytes, after a header that depends only on the size. TensorBoard's image
  dashboard serves it as image/bmp and browsers draw it, so a picture costs no encoding: PNG's
  zlib, outside XLA, took ~1 ms per logging step.

  Args:
    image: uint8 [1, H, W, 3] with H and W known when tracing.

  Returns:
    uint8 [bmp_length(H, W)].
  """
  _, height, width, _ = image.shape
  rows = tf.reshape(tf.reverse(image[0], axis=[0, 2]), [height, 3 * width])
  rows = tf.pad(rows, [[0, 0], [0, _bmp_row_bytes(width) - 3 * width]])
  header = tf.constant(np.frombuffer(_bmp_header(height, width), np.uint8))
  return tf.concat([header, tf.reshape(rows, [-1])], axis=0)


def png(image, *, compression=-1):
  """PNG bytes of one uint8 RGB image (eager; tf.io.encode_png does not compile with XLA).

  Args:
    image: uint8 [1, H, W, 3] (as the functions above return) or [H, W, 3].
    compression: zlib level 0-9, or -1 for the default.

  Returns:
    bytes, starting with the PNG signature.

  Raises:
    ValueError: if the image is not one uint8 RGB image.
  """
  image = tf.convert_to_tensor(image)
  if image.shape.rank == 4 and image.shape[0] == 1:
    image = image[0]
  if image.dtype != tf.uint8 or image.shape.rank != 3 or image.shape[-1] != 3:
    raise ValueError(f"Expected one uint8 RGB image, [1, H, W, 3] or [H, W, 3]; received "
                     f"{image.dtype.name} {image.shape}.")
  return tf.io.encode_png(image, compression=compression).numpy()
