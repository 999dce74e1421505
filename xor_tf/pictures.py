"""Pictures of what a network computes over the input plane, drawn with XLA-compilable TF ops.

As TensorFlow Playground does, the network is evaluated on a grid of points covering the input
square with a margin: the grid is just a batch of inputs, one point per column, to a network's
`apply_columns`. Its output probability on a GRID x GRID grid becomes the decision-boundary
picture, and each hidden layer's activations on a TILE x TILE grid become a row of heatmaps, one
per neuron. Everything uses only static shapes and plain tensor ops (no tf.image, no
py_function), so the training loop draws the pictures in a compiled function of their own,
beside the one that records a logging step, as int32 pixels (`draw_packed`). A 32-bit BMP is a
constant header (`bmp_header`) and then exactly those pixels' bytes, which `xor_tf.encoding`
writes as they are; `bmp` builds the same file in one piece, and the tests hold the loop's
bytes against it. The picture saved at the end of a run is a PNG (`png`).

The pixels' bytes are laid out for a little-endian machine, as every machine TensorFlow ships
for is.
"""

import functools
import struct
import sys

import numpy as np
import tensorflow as tf

from xor_tf import data
from xor_tf import tags

if sys.byteorder != "little":
  raise ImportError("xor_tf.pictures lays out pixels as little-endian bytes; this machine is "
                    f"{sys.byteorder}-endian.")

GRID = 64  # grid points per side: one picture is a forward pass on GRID * GRID = 4096 points
LO, HI = -0.5, 1.5  # the grid covers [LO, HI]², the XOR square [0, 1]² with a margin
# TensorBoard scales an image up to its card, pixelated, so pictures are kept small: they are
# stored uncompressed (BMP), and a run's event files should stay under a megabyte.
SCALE = 1  # decision-boundary pixels per grid point in TensorBoard (the saved PNG uses 4)
TILE = 16  # pixels per side of one neuron's heatmap: the neuron on a 16 x 16 grid of its own
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
  return tf.constant(_grid_array(size, lo, hi))


def _grid_array(size, lo=LO, hi=HI):
  centres = lo + (hi - lo) * (np.arange(size) + 0.5) / size
  x1, x2 = np.meshgrid(centres, centres[::-1])
  return np.stack([x1.ravel(), x2.ravel()], axis=1).astype(np.float32)


OPAQUE = -(1 << 24)  # 0xFF000000 as an int32: a BMP's 4th byte, which readers may take as alpha


def _packed(rgb):
  """An int32 pixel per colour, 0xFFRRGGBB, from integer-valued [..., 3]."""
  rgb = np.asarray(rgb, np.int64)
  return (0xFF << 24 | rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).astype(np.int32)


@_plain_tensor_ops
def rgb(packed):
  """uint8 [..., 3] RGB of int32 pixels (`colormap_packed`, the `*_packed` pictures)."""
  little_endian = tf.bitcast(packed, tf.uint8)  # B, G, R, 255
  return tf.reverse(little_endian[..., :3], axis=[-1])


LEVELS = 1024  # colormap_packed looks each value up among this many + 1 colours


def _lookup_table(levels=LEVELS):
  """int32 colours (0xFFRRGGBB) of the ColorBrewer ramp at 0, 1/levels, ..., 1: interpolated, rounded."""
  t = np.linspace(0.0, len(_TABLE) - 1, levels + 1)
  i = np.minimum(t.astype(int), len(_TABLE) - 2)
  f = (t - i)[:, None]
  return _packed(np.round(_TABLE[i] * (1.0 - f) + _TABLE[i + 1] * f))


@_plain_tensor_ops
def colormap_packed(values):
  """`colormap` as one int32 pixel per value, 0xFFRRGGBB (`OPAQUE` + R * 2**16 + G * 2**8 + B).

  The pictures drawn in the training loop are built as such pixels: one int32 per pixel
  instead of three bytes, and the 32-bit BMP that holds them is their bytes as they lie in
  memory (`bmp`). A value picks the nearest of LEVELS + 1 precomputed colours, one lookup:
  XLA on CPU spends ~10 ns per value interpolating the table instead.
  """
  v = tf.cast(values, tf.float32)
  v = tf.clip_by_value(tf.where(tf.math.is_nan(v), 0.5, v), 0.0, 1.0)
  return tf.gather(tf.constant(_lookup_table()), tf.cast(tf.round(v * LEVELS), tf.int32))


def colormap(values):
  """Maps values in [0, 1] to RGB colours: 0 blue, 0.5 near white, 1 red.

  Linear interpolation between the entries of a 9-colour ColorBrewer table, at LEVELS + 1
  levels. Values outside [0, 1] are clipped; NaN, which a diverged network can produce, is
  drawn as 0.5.

  Args:
    values: float tensor of any shape.

  Returns:
    uint8 tensor of shape values.shape + [3].
  """
  return rgb(colormap_packed(values))


def _upscale(image, scale, row_axis):
  """Nearest-neighbour upscaling of the two axes starting at row_axis by an integer factor."""
  if scale == 1:
    return image
  return tf.repeat(tf.repeat(image, scale, axis=row_axis), scale, axis=row_axis + 1)


@functools.lru_cache(maxsize=None)
def _markers(size, scale, lo, hi):
  """The four XOR points as outlined discs: (int32 pixels [H, W], drawn [H, W] bool).

  A constant for a given picture size, so it is computed once in NumPy and the compiled
  picture only selects between it and the background.
  """
  pixels = size * scale
  outer = max(3.0, 2.25 * scale)
  inner = outer - max(1.0, 0.5 * scale)
  centres = np.arange(pixels) + 0.5
  colours = np.zeros([pixels, pixels], np.int32)
  drawn = np.zeros([pixels, pixels], bool)
  for (x1, x2), (label,) in zip(data.INPUTS, data.LABELS.astype(int)):
    col = (x1 - lo) / (hi - lo) * pixels
    row = (hi - x2) / (hi - lo) * pixels
    distance = np.hypot(centres[:, None] - row, centres[None, :] - col)
    colours[distance < outer] = _packed(OUTLINE)
    colours[distance < inner] = _packed(CLASS_COLORS[label])
    drawn |= distance < outer
  return colours, drawn


@_plain_tensor_ops
def decision_boundary_packed(probabilities, size=GRID, *, scale=SCALE, lo=LO, hi=HI,
                             logits=None):
  """`decision_boundary` as int32 pixels [1, H, W] (0xFFRRGGBB, as `colormap_packed`).

  With `logits`, the output's logits, the class of a pixel is logits > 0: XLA fuses the whole
  picture into one loop, which otherwise computes each pixel's sigmoid five times.
  """
  p = tf.reshape(probabilities, [size, size])
  image = _upscale(colormap_packed(p), scale, 0)
  positive = p > 0.5 if logits is None else tf.reshape(logits, [size, size]) > 0
  positive = _upscale(positive, scale, 0)
  # A pixel is on the line if its class differs from its right or lower neighbour.
  right = tf.pad(tf.not_equal(positive[:, :-1], positive[:, 1:]), [[0, 0], [0, 1]])
  below = tf.pad(tf.not_equal(positive[:-1, :], positive[1:, :]), [[0, 1], [0, 0]])
  image = tf.where(right | below, tf.constant(_packed(CONTOUR)), image)
  colours, drawn = _markers(size, scale, float(lo), float(hi))
  image = tf.where(tf.constant(drawn), tf.constant(colours), image)
  return image[None]


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
  return rgb(decision_boundary_packed(probabilities, size, scale=scale, lo=lo, hi=hi))


def to_unit_range(values, value_range=(0.0, 1.0)):
  """Values of an activation mapped onto the colour map's [0, 1].

  value_range: (lo, hi) that the activation can take (`xor_tf.activations`): lo maps to blue
  and hi to red. An unbounded end is None and taken from the values themselves: relu's (0, None)
  spans 0 to the largest value; linear's (None, None) spans ± the largest magnitude, so that 0
  stays white.
  """
  lo, hi = value_range
  if lo is None and hi is None:
    reach = tf.maximum(tf.reduce_max(tf.abs(values)), 1e-6)
    return 0.5 + 0.5 * values / reach
  if hi is None:
    hi = tf.maximum(tf.reduce_max(values), lo + 1e-6)
  if lo == 0.0 and hi == 1.0:
    return values
  return (values - lo) / (hi - lo)


@_plain_tensor_ops
def neuron_tiles_packed(columns, tile=TILE, *, gap=TILE_GAP, value_range=(0.0, 1.0)):
  """`neuron_tiles` of activations laid out [width, tile * tile], as int32 pixels [1, H, W]."""
  width = columns.shape[0]
  tiles = colormap_packed(tf.reshape(to_unit_range(columns, value_range), [width, tile, tile]))
  tiles = tf.pad(tiles, [[0, 0], [0, 0], [0, gap]],
                 constant_values=int(_packed([SEPARATOR] * 3)))
  row = tf.reshape(tf.transpose(tiles, [1, 0, 2]), [tile, width * (tile + gap)])
  return row[None, :, :width * (tile + gap) - gap]


def neuron_tiles(activations, tile=TILE, *, gap=TILE_GAP, value_range=(0.0, 1.0)):
  """One heatmap per neuron of a layer, side by side, as TensorFlow Playground draws them.

  Each heatmap is the neuron's activation on its own small grid over the same square: a row
  of thumbnails, cheap to compute, encode and store, beside the full-size decision boundary.

  Args:
    activations: float [tile * tile, width], one layer's activations at `grid_points(tile)`,
      values in `value_range` (`to_unit_range`); the width must be known when tracing.
    tile: the heatmaps' pixels per side.
    gap: grey pixels between two heatmaps.

  Returns:
    uint8 image [1, tile, width * tile + (width - 1) * gap, 3]; neuron i is the i-th heatmap
    from the left.
  """
  return rgb(neuron_tiles_packed(tf.transpose(activations), tile, gap=gap,
                                 value_range=value_range))


@_plain_tensor_ops
def draw_packed(apply_columns, params, size=GRID, tile=TILE, value_range=(0.0, 1.0)):
  """Every picture of a network, as int32 pixels {layer name: [1, H, W]} (0xFFRRGGBB).

  Two forward passes, each one batch: on the size x size grid for the decision boundary, and
  on the tile x tile grid for each hidden layer's row of neuron heatmaps.

  Args:
    apply_columns: a network's `apply_columns(params, points [2, N])`.
    params: its parameters.
    size: the decision boundary's pixels per side.
    tile: each neuron heatmap's pixels per side.
    value_range: the hidden activation's range (`to_unit_range`), which the heatmaps span.
  """
  logits, fine = apply_columns(params, tf.constant(_grid_array(size).T))
  _, coarse = apply_columns(params, tf.constant(_grid_array(tile).T))
  return {name: decision_boundary_packed(fine[name], size, logits=logits)
                if name == tags.OUTPUT
                else neuron_tiles_packed(coarse[name], tile, value_range=value_range)
          for name in fine}


def draw(apply_columns, params, size=GRID, tile=TILE, value_range=(0.0, 1.0)):
  """`draw_packed` as uint8 RGB images {layer name: [1, H, W, 3]}."""
  return {name: rgb(image) for name, image in
          draw_packed(apply_columns, params, size, tile, value_range).items()}


def bmp_header(height, width):
  """The 54 header bytes of a 32-bit top-down BMP (BITMAPFILEHEADER + BITMAPINFOHEADER).

  A negative height means the rows are stored top row first; at 32 bits per pixel no row is
  padded. Both keep the file's pixels the image's int32 pixels as they lie in memory.
  """
  pixels = 4 * width * height
  return struct.pack("<2sIHHI", b"BM", 54 + pixels, 0, 0, 54) + struct.pack(
      "<IiiHHIIiiII", 40, width, -height, 1, 32, 0, pixels, 2835, 2835, 0, 0)


def bmp_length(height, width):
  """Bytes of the BMP `bmp` makes of an image [1, height, width(, 3)]."""
  return 54 + 4 * width * height


@_plain_tensor_ops
def bmp(image):
  """The bytes of a 32-bit BMP file of one image, with XLA-compilable ops.

  TensorBoard's image dashboard serves it as image/bmp and browsers draw it, so a picture
  costs no encoding: PNG's zlib, outside XLA, took ~1 ms per logging step. The file is a
  54-byte header and then the pixels: blue, green, red and 255 (opaque, for readers that take
  the 4th byte as alpha), which is exactly an int32 0xFFRRGGBB pixel's bytes on a
  little-endian machine.

  Args:
    image: int32 pixels [1, H, W] (the `*_packed` pictures), or uint8 RGB [1, H, W, 3]; H and
      W known when tracing.

  Returns:
    uint8 [bmp_length(H, W)].
  """
  if image.dtype == tf.uint8:
    channels = tf.cast(image, tf.int32)
    image = (OPAQUE + channels[..., 0] * (1 << 16) + channels[..., 1] * (1 << 8)
             + channels[..., 2])
  _, height, width = image.shape
  header = tf.constant(np.frombuffer(bmp_header(height, width), np.uint8))
  return tf.concat([header, tf.reshape(tf.bitcast(image, tf.uint8), [-1])], axis=0)


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
