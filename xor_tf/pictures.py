"""Pictures of what a network computes, with their keys and axes, drawn with XLA-compilable TF ops.

As TensorFlow Playground does, the network is evaluated on a grid of points covering the input
square with a margin: the grid is just a batch of inputs, one point per column, to a network's
`apply_columns`. One forward pass on the GRID x GRID grid, the input square's grid lines and the
four XOR inputs gives every picture of a logging step (`draw_packed`):

  decision boundary  the output probability over the plane, its logits interpolated to the
                     picture's PLOT x PLOT pixels so that the anti-aliased p = 0.5 line is smooth;
                     axes x1 and x2 with ticks at 0 and 1, a colour key, the four XOR points
  <hidden layer>     one numbered heatmap per neuron, TILE px or more a side, in rows that fit
                     TensorBoard's image card, with the four XOR points marked
  hidden_space       the XOR points and the input square's grid lines as the last hidden layer
                     maps them, over the output's probability, with the output's p = 0.5 line

TensorBoard's Time Series card shows an image in a box about 300 x 214 px (`CARD`; it scales
the image to fit, pixelated), so the pictures are ~200 px tall: shown at about their own size,
the 5 x 7 pixel font (`FONT`) of their labels stays sharp. Labels, ticks, frames and keys are
constants of a picture's shape, drawn once in NumPy; the compiled part only computes the
pixels that depend on the network. Everything uses static shapes and plain tensor ops (no
tf.image, no py_function, no branching on tensor values), so the training loop draws the
pictures in a compiled function of their own as int32 pixels (0xFFRRGGBB). `png` encodes one,
outside XLA.
"""

import functools
import math
import sys

import numpy as np
import tensorflow as tf

from xor_tf import data
from xor_tf import tags

if sys.byteorder != "little":
  raise ImportError("xor_tf.pictures lays out pixels as little-endian bytes; this machine is "
                    f"{sys.byteorder}-endian.")

GRID = 64  # grid points per side: the network runs on GRID * GRID = 4096 points of the plane
LO, HI = -0.5, 1.5  # the grid covers [LO, HI]², the XOR square [0, 1]² with a margin
PLOT = 160  # the decision boundary's plot, px a side: 80 px per unit of x1 and x2
HIDDEN_PLOT = 168  # the hidden-space plot, px a side
TILE = 48  # the smallest neuron heatmap, px a side (larger when a layer has few neurons)
TILE_SIZES = (48, 64, 80, 96, 128)
CARD = (300, 200)  # (width, height) a picture should fit in to be shown at >= 1x (measured
                   # box in TensorBoard 2.21 Time Series at its default card size: ~303 x 214)
GRID_LINES = (0.0, 0.25, 0.5, 0.75, 1.0)  # x1 = c and x2 = c, the square's grid in hidden_space
LINE_SAMPLES = 65  # network evaluations along each grid line
LINE_STEPS = 8  # straight sub-steps drawn between two evaluations: the line is a polyline
POWER_SQUARINGS = 6  # power iteration C^64 v for the main direction of a wide layer's points
TINT = 0.45  # how strongly hidden_space's background shows the output's colour (0 white, 1 full)

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
CONTOUR = np.array([34, 34, 34], np.uint8)  # the p = 0.5 line
TEXT = np.array([51, 51, 51], np.uint8)  # labels, digits and ticks
FRAME = np.array([150, 150, 150], np.uint8)  # the frame around a plot or a heatmap
GRID_EDGE = np.array([60, 60, 60], np.uint8)  # hidden_space: the square's edges x = 0, x = 1
WHITE = np.array([255, 255, 255], np.uint8)

# These functions have no tensor-dependent control flow, so AutoGraph, which the training
# loop's tf.function applies to everything it calls, has nothing to convert; skipping the
# conversion saves ~0.3 s of tracing per process.
_plain_tensor_ops = tf.autograph.experimental.do_not_convert

# A 5 x 7 pixel font: the digits and the few letters the pictures' labels use.
FONT = {
    "0": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    ".": ("..", "..", "..", "..", "..", "##", "##"),
    "-": ("....", "....", "....", "####", "....", "....", "...."),
    "a": (".....", ".....", ".###.", "....#", ".####", "#...#", ".####"),
    "m": (".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"),
    "h": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"),
    "p": (".....", ".....", "####.", "#...#", "####.", "#....", "#...."),
    "u": (".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"),
    "v": (".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "x": (".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"),
}
FONT_HEIGHT = 7


def text_bitmap(text):
  """bool [7, width] pixels of `text` in FONT, one blank column between two characters."""
  columns = []
  for i, char in enumerate(text):
    if i:
      columns.append(np.zeros([FONT_HEIGHT, 1], bool))
    columns.append(np.array([[c == "#" for c in row] for row in FONT[char]], bool))
  return np.concatenate(columns, axis=1) if columns else np.zeros([FONT_HEIGHT, 0], bool)


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


def grid_line_points(samples=LINE_SAMPLES, values=GRID_LINES):
  """Points along the input square's grid lines: float32 [2 * len(values), samples, 2].

  First the lines x1 = c for c in `values` (x2 from 0 to 1), then the lines x2 = c (x1 from 0
  to 1); each line's points in order, so consecutive ones can be joined.
  """
  t = np.linspace(0.0, 1.0, samples, dtype=np.float32)
  lines = [np.stack([np.full_like(t, c), t], axis=1) for c in values]
  lines += [np.stack([t, np.full_like(t, c)], axis=1) for c in values]
  return np.stack(lines).astype(np.float32)


OPAQUE = -(1 << 24)  # 0xFF000000 as an int32: the pixels' 4th byte, which readers take as alpha


def _packed(rgb):
  """An int32 pixel per colour, 0xFFRRGGBB, from integer-valued [..., 3]."""
  rgb = np.asarray(rgb, np.int64)
  return (0xFF << 24 | rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).astype(np.int32)


def _pack(rgb):
  """int32 pixels 0xFFRRGGBB of float RGB [..., 3] in [0, 255] (a tensor), rounded."""
  c = tf.cast(tf.round(rgb), tf.int32)
  return OPAQUE + c[..., 0] * (1 << 16) + c[..., 1] * (1 << 8) + c[..., 2]


@_plain_tensor_ops
def rgb(packed):
  """uint8 [..., 3] RGB of int32 pixels (`colormap_packed`, the `*_packed` pictures)."""
  little_endian = tf.bitcast(packed, tf.uint8)  # B, G, R, 255
  return tf.reverse(little_endian[..., :3], axis=[-1])


LEVELS = 1024  # colormap_packed looks each value up among this many + 1 colours


def _ramp(levels=LEVELS):
  """float32 [levels + 1, 3]: the ColorBrewer ramp at 0, 1/levels, ..., 1, interpolated, rounded."""
  t = np.linspace(0.0, len(_TABLE) - 1, levels + 1)
  i = np.minimum(t.astype(int), len(_TABLE) - 2)
  f = (t - i)[:, None]
  return np.round(_TABLE[i] * (1.0 - f) + _TABLE[i + 1] * f).astype(np.float32)


def _lookup_table(levels=LEVELS):
  """int32 colours (0xFFRRGGBB) of `_ramp`."""
  return _packed(_ramp(levels))


def _levels(values):
  """The index into `_ramp` of values in [0, 1]: clipped, NaN (a diverged network) as 0.5."""
  v = tf.cast(values, tf.float32)
  v = tf.clip_by_value(tf.where(tf.math.is_nan(v), 0.5, v), 0.0, 1.0)
  return tf.cast(tf.round(v * LEVELS), tf.int32)


@_plain_tensor_ops
def colormap_packed(values):
  """`colormap` as one int32 pixel per value, 0xFFRRGGBB (`OPAQUE` + R * 2**16 + G * 2**8 + B).

  A value picks the nearest of LEVELS + 1 precomputed colours, one lookup: XLA on CPU spends
  ~10 ns per value interpolating the table instead.
  """
  return tf.gather(tf.constant(_lookup_table()), _levels(values))


def _colour(values):
  """`colormap` as float RGB [..., 3], for blending lines and markers over it."""
  return tf.gather(tf.constant(_ramp()), _levels(values))


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


def _blend(image, alpha, colour):
  """image float RGB [..., 3] covered by `colour` in proportion alpha [...] (0 to 1)."""
  return image + alpha[..., None] * (tf.cast(colour, tf.float32) - image)


def _upscale(image, scale, row_axis):
  """Nearest-neighbour upscaling of the two axes starting at row_axis by an integer factor."""
  if scale == 1:
    return image
  return tf.repeat(tf.repeat(image, scale, axis=row_axis), scale, axis=row_axis + 1)


def _resample(n_out, n_in):
  """float32 [n_out, n_in]: linear interpolation from n_in pixel centres to n_out over one span.

  M @ values resamples values along an axis of n_in pixels to n_out pixels covering the same
  interval; M @ field @ Mᵀ resamples a square field. Constant, so it is a matmul under XLA.
  """
  x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1.0)
  i = np.minimum(np.floor(x).astype(int), n_in - 2)
  f = x - i
  m = np.zeros([n_out, n_in], np.float32)
  m[np.arange(n_out), i] = 1.0 - f
  m[np.arange(n_out), i + 1] += f
  return m


def _shift(field, axis, step):
  """field [H, W] moved by one pixel along axis 0 or 1 (step +1: each pixel takes its next
  neighbour's value, -1 its previous one's), the edge repeated."""
  if axis == 1:
    return tf.transpose(_shift(tf.transpose(field), 0, step))
  if step > 0:
    return tf.concat([field[1:], field[-1:]], axis=0)
  return tf.concat([field[:1], field[:-1]], axis=0)


LINE_WIDTH = 2.0  # px: the anti-aliased zero lines
MIN_SLOPE = 1e-4  # a field flatter than this per pixel has no line worth drawing (rounding)


def line_coverage(field, width=LINE_WIDTH):
  """How much of each pixel of field [H, W]'s zero line covers: 0 to 1, anti-aliased.

  A pixel's distance to the line is |field| / |gradient| (the gradient by central differences),
  and the line is drawn `width` px wide around it. Only where the field takes both signs among
  a pixel and its 8 neighbours: a field that is 0 up to rounding everywhere (a logistic unit at
  its best for XOR) has no line, rather than one of noise.
  """
  right, left = _shift(field, 1, 1), _shift(field, 1, -1)
  down, up = _shift(field, 0, 1), _shift(field, 0, -1)
  slope = tf.sqrt(tf.square((right - left) / 2) + tf.square((down - up) / 2))
  distance = tf.abs(field) / tf.maximum(slope, 1e-30)
  across_max = tf.maximum(field, tf.maximum(right, left))  # the 3 x 3 neighbourhood, separably
  across_min = tf.minimum(field, tf.minimum(right, left))
  most = tf.maximum(across_max, tf.maximum(_shift(across_max, 0, 1), _shift(across_max, 0, -1)))
  least = tf.minimum(across_min, tf.minimum(_shift(across_min, 0, 1), _shift(across_min, 0, -1)))
  crosses = (most >= 0) & (least <= 0)
  coverage = tf.clip_by_value(width / 2 + 0.5 - distance, 0.0, 1.0)
  return tf.where(crosses & (slope > MIN_SLOPE), coverage, 0.0)


class _Canvas:
  """A picture's constant parts, drawn once in NumPy: white, with text, ticks, frames, keys."""

  def __init__(self, height, width):
    self.rgb = np.zeros([height, width, 3], np.float32) + WHITE
    self.dynamic = np.zeros([height, width], bool)  # where the compiled pixels go

  def fill(self, top, left, height, width, colour):
    self.rgb[max(top, 0):top + height, max(left, 0):left + width] = colour

  def frame(self, top, left, height, width, colour=FRAME):
    """A 1 px frame just outside the rectangle (top, left, height, width)."""
    self.fill(top - 1, left - 1, 1, width + 2, colour)
    self.fill(top + height, left - 1, 1, width + 2, colour)
    self.fill(top - 1, left - 1, height + 2, 1, colour)
    self.fill(top - 1, left + width, height + 2, 1, colour)

  def text(self, text, top, left, colour=TEXT, anchor="left"):
    """`text` in FONT with its top at `top`; anchor: which of its columns is at `left`."""
    bitmap = text_bitmap(text)
    width = bitmap.shape[1]
    left -= {"left": 0, "centre": width // 2, "right": width}[anchor]
    self.rgb[top:top + FONT_HEIGHT, left:left + width][bitmap] = colour

  def place(self, pixels, top, left):
    """Where the compiled picture [pixels.shape] goes: (top, left, height, width)."""
    self.dynamic[top:top + pixels[0], left:left + pixels[1]] = True
    return top, left

  def compose(self, part, top, left):
    """The picture: the compiled float RGB `part` at (top, left) over the constant canvas."""
    height, width = self.dynamic.shape
    placed = tf.pad(part, [[top, height - top - part.shape[0]],
                           [left, width - left - part.shape[1]], [0, 0]])
    return tf.where(tf.constant(self.dynamic[..., None]), placed, tf.constant(self.rgb))


TICK = 3  # px
MARGIN = 4  # px around a picture


def _axis_pixel(fraction, size):
  """The pixel of a plot `size` px long nearest the position `fraction` (0 to 1) along it."""
  return min(size - 1, max(0, int(math.floor(fraction * size))))


def _framed(size, x_ticks, y_ticks, x_name, y_name, *, top=MARGIN, right=0):
  """A canvas with a size x size plot framed, ticks with their labels, and the axes' names.

  x_ticks, y_ticks: ((fraction along the axis from the left or the bottom, label), ...).
  The x axis' name is centred under the plot on the ticks' row and the y axis' name left of
  the plot halfway up, so ticks should leave the middle free.
  top: rows above the plot. right: columns right of the plot (a colour key).

  Returns:
    (canvas, plot top, plot left).
  """
  y_labels = [text_bitmap(label).shape[1] for _, label in y_ticks] + [text_bitmap(y_name).shape[1]]
  left = MARGIN + max(y_labels) + 2 + TICK + 1  # label, 2 px, tick, the frame
  height = top + size + 1 + TICK + 1 + FONT_HEIGHT + MARGIN
  width = left + size + 1 + right + MARGIN
  canvas = _Canvas(height, width)
  canvas.frame(top, left, size, size)
  for fraction, label in x_ticks:
    col = left + _axis_pixel(fraction, size)
    canvas.fill(top + size + 1, col, TICK, 1, TEXT)
    canvas.text(label, top + size + 1 + TICK + 1, col, anchor="centre")
  for fraction, label in y_ticks:
    row = top + size - 1 - _axis_pixel(fraction, size)
    canvas.fill(row, left - 1 - TICK, 1, TICK, TEXT)
    canvas.text(label, row - FONT_HEIGHT // 2, left - 1 - TICK - 2, anchor="right")
  canvas.text(x_name, top + size + 1 + TICK + 1, left + size // 2, anchor="centre")
  canvas.text(y_name, top + size // 2 - FONT_HEIGHT // 2, left - 1 - TICK - 2, anchor="right")
  canvas.place((size, size), top, left)
  return canvas, top, left


def _disc(radius, colour, outline=OUTLINE, ring=2.0):
  """(alpha [2r, 2r], float RGB [2r, 2r, 3]): an anti-aliased disc with an outline, centred
  on its bitmap's middle corner, so that it is placed at a whole-pixel corner."""
  size = 2 * int(math.ceil(radius))
  centres = np.arange(size) + 0.5
  distance = np.hypot(centres[:, None] - size / 2, centres[None, :] - size / 2)
  alpha = np.clip(radius + 0.5 - distance, 0.0, 1.0).astype(np.float32)
  fill = np.clip(radius - ring + 0.5 - distance, 0.0, 1.0)[..., None]
  colours = (fill * np.asarray(colour, np.float32)
             + (1 - fill) * np.asarray(outline, np.float32)).astype(np.float32)
  return alpha, colours


def _label(text):
  """(alpha, float RGB) of `text` in TEXT with a 1 px white halo, to read over lines."""
  bitmap = np.pad(text_bitmap(text), 1)
  halo = bitmap.copy()
  for dr in (-1, 0, 1):
    for dc in (-1, 0, 1):
      halo |= np.roll(np.roll(bitmap, dr, 0), dc, 1)
  colours = np.where(bitmap[..., None], TEXT, WHITE).astype(np.float32)
  return halo.astype(np.float32), colours


def _stamp_numpy(alpha_image, colour_image, stamp, row, col):
  """Blends a (alpha, colours) bitmap into NumPy images with its top-left pixel at (row, col)."""
  alpha, colours = stamp
  h, w = alpha.shape
  a = alpha_image[row:row + h, col:col + w]
  c = colour_image[row:row + h, col:col + w]
  c += alpha[..., None] * (colours - c)
  a += alpha * (1 - a)


def _xor_markers(size, radius, lo=LO, hi=HI, ring=2.0):
  """The four XOR points as discs on a size x size plot of [lo, hi]²: (alpha [H, W], RGB)."""
  alpha = np.zeros([size, size], np.float32)
  colours = np.zeros([size, size, 3], np.float32)
  for (x1, x2), (label,) in zip(data.INPUTS, data.LABELS.astype(int)):
    disc = _disc(radius, CLASS_COLORS[label], ring=ring)
    half = disc[0].shape[0] // 2
    row = int(round((hi - x2) / (hi - lo) * size)) - half
    col = int(round((x1 - lo) / (hi - lo) * size)) - half
    _stamp_numpy(alpha, colours, disc, row, col)
  return alpha, colours


def _discs(image, rows, cols, radii, colours, ring=2.0):
  """image float RGB [H, W, 3] with anti-aliased outlined discs drawn in order, one per point.

  rows, cols: float [n] centres in pixels from the image's corner (tensors: points that move);
  radii and colours: constants. Drawn from each pixel's distance to each centre: elementwise
  arithmetic that XLA fuses, no gather or scatter.
  """
  height, width = image.shape[0], image.shape[1]
  r = tf.constant(np.arange(height, dtype=np.float32) + 0.5)[:, None]
  c = tf.constant(np.arange(width, dtype=np.float32) + 0.5)[None, :]
  for i, (radius, colour) in enumerate(zip(radii, colours)):
    distance = tf.sqrt(tf.square(r - rows[i]) + tf.square(c - cols[i]))
    fill = tf.clip_by_value(radius - ring + 0.5 - distance, 0.0, 1.0)
    disc = _blend(tf.zeros_like(image) + OUTLINE.astype(np.float32), fill, colour)
    image = image + tf.clip_by_value(radius + 0.5 - distance, 0.0, 1.0)[..., None] * (disc - image)
  return image


def _stamps(image, stamps, rows, cols):
  """image float RGB [H, W, 3] with constant bitmaps blended in, bitmap i with its top-left
  pixel at (rows[i], cols[i]): int32 tensors (points that move).

  stamps: (alpha [n, h, w], colours [n, h, w, 3]), bitmaps of one shape. Only their pixels are
  read and written, in one gather and one scatter (where two overlap, one of them wins): a
  gather over the whole image per bitmap cost ~5 ms a picture.
  """
  alpha, colours = stamps
  n, h, w = alpha.shape
  height, width = image.shape[0], image.shape[1]
  r = tf.reshape(rows, [n, 1]) + tf.constant(np.repeat(np.arange(h), w).astype(np.int32))
  c = tf.reshape(cols, [n, 1]) + tf.constant(np.tile(np.arange(w), h).astype(np.int32))
  inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
  index = tf.reshape(tf.where(inside, r * width + c, height * width), [-1, 1])  # else a spare
  flat = tf.concat([tf.reshape(image, [height * width, 3]), tf.zeros([1, 3])], axis=0)
  under = tf.gather_nd(flat, index)
  over = under + tf.constant(alpha.reshape(-1, 1)) * (tf.constant(colours.reshape(-1, 3)) - under)
  flat = tf.tensor_scatter_nd_update(flat, index, over)
  return tf.reshape(flat[:-1], [height, width, 3])


def _stack(stamps):
  """One (alpha [n, h, w], colours [n, h, w, 3]) of n (alpha, colours) bitmaps of one shape."""
  return np.stack([a for a, _ in stamps]), np.stack([c for _, c in stamps])


KEY_GAP, KEY_WIDTH = 10, 10  # px between the plot and the colour key, and the key's width
MARKER_RADIUS = 5.0  # px: the XOR points on the decision boundary
# hidden_space draws target-0 points larger, then target-1 points on top: two inputs of
# different targets that the hidden layer maps to one place (a stuck net) show as a red disc
# in a blue ring, not as one disc hiding the other.
HIDDEN_RADII = (7.0, 5.0)


def _format(value):
  """A tick label: '0', '1', '-1', '0.5'."""
  return f"{value:g}"


@functools.lru_cache(maxsize=None)
def _boundary_layout(lo, hi, size=PLOT):
  """The decision boundary's canvas (axes x1, x2 ticked at 0 and 1, the key) and its markers."""
  ticks = [((v - lo) / (hi - lo), _format(v)) for v in (0.0, 1.0)]
  right = KEY_GAP + KEY_WIDTH + 1 + TICK + 3 + text_bitmap("0.5").shape[1]
  top = MARGIN + FONT_HEIGHT + 3  # room for the key's "p" above it
  canvas, top, left = _framed(size, ticks, ticks, "x1", "x2", top=top, right=right)
  key_left = left + size + 1 + KEY_GAP
  levels = np.round((1.0 - (np.arange(size) + 0.5) / size) * LEVELS).astype(int)
  canvas.rgb[top:top + size, key_left:key_left + KEY_WIDTH] = _ramp()[levels][:, None]
  canvas.frame(top, key_left, size, KEY_WIDTH)
  for value in (0.0, 0.5, 1.0):
    row = top + size - 1 - _axis_pixel(value, size)
    canvas.fill(row, key_left + KEY_WIDTH + 1, 1, TICK, TEXT)
    canvas.text(_format(value), row - FONT_HEIGHT // 2, key_left + KEY_WIDTH + 1 + TICK + 3)
  canvas.text("p", top - FONT_HEIGHT - 3, key_left + KEY_WIDTH // 2, anchor="centre")
  return canvas, top, left, _xor_markers(size, MARKER_RADIUS, lo, hi)


def _logits_of(probabilities):
  p = tf.clip_by_value(tf.cast(probabilities, tf.float32), 1e-7, 1 - 1e-7)
  return tf.math.log(p) - tf.math.log1p(-p)


@_plain_tensor_ops
def decision_boundary_packed(probabilities, size=GRID, *, scale=1, lo=LO, hi=HI, logits=None):
  """`decision_boundary` as int32 pixels [1, H, W] (0xFFRRGGBB, as `colormap_packed`).

  With `logits`, the output's logits on the grid, `probabilities` is not read: the picture is
  drawn from the logits (which do not saturate as float32 probabilities do).
  """
  if logits is None:
    logits = _logits_of(probabilities)
  canvas, top, left, (alpha, colours) = _boundary_layout(float(lo), float(hi))
  resample = tf.constant(_resample(PLOT, size))
  fine = resample @ tf.reshape(tf.cast(logits, tf.float32), [size, size]) @ tf.transpose(resample)
  plot = _blend(_colour(tf.sigmoid(fine)), line_coverage(fine), CONTOUR)
  plot = plot + alpha[..., None] * (colours - plot)
  return _upscale(_pack(canvas.compose(plot, top, left)), scale, 0)[None]


def decision_boundary(probabilities, size=GRID, *, scale=1, lo=LO, hi=HI, logits=None):
  """The picture of the network's output probability over the input plane, readable alone.

  The probability over [lo, hi]² in the colour map (blue 0, white 0.5, red 1), its logits
  interpolated from the size x size grid to PLOT x PLOT pixels; an anti-aliased dark line where
  it crosses 0.5; the four XOR inputs as discs in their label's colour with a dark outline (a
  disc that stands out from the colour around it is a point the network gets wrong); axes x1
  (to the right) and x2 (up) ticked at 0 and 1; and a colour key labelled 0, 0.5, 1.

  Args:
    probabilities: float [size * size] or [size * size, 1], the output at `grid_points(size,
      lo, hi)`.
    size: the grid's points per side.
    scale: integer upscaling of the whole picture (nearest neighbour): the saved PNG uses 2.
    lo: the grid's lower edge, as given to grid_points.
    hi: the grid's upper edge.
    logits: the output's logits at the same points, drawn from instead when given.

  Returns:
    uint8 image [1, H, W, 3].
  """
  return rgb(decision_boundary_packed(probabilities, size, scale=scale, lo=lo, hi=hi,
                                      logits=logits))


def boundary_plot_box(size=GRID, lo=LO, hi=HI):
  """(top, left, side) of the decision boundary's plot inside its picture (before `scale`)."""
  _, top, left, _ = _boundary_layout(float(lo), float(hi))
  return top, left, PLOT


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
  if lo == 0.0 and hi == 1.0:  # before hi may become a tensor, which has no Python truth
    return values
  if hi is None:
    hi = tf.maximum(tf.reduce_max(values), lo + 1e-6)
  return (values - lo) / (hi - lo)


HEATMAP_GAP = 8  # `neuron_heatmaps`: pixels between two heatmaps, across and down
LABEL_HEIGHT = FONT_HEIGHT + 2  # a heatmap's number above it
WIDE_LAYER_PIXELS = 120_000  # a layer too wide for the card keeps its heatmaps under this


HEATMAP_KEY_LENGTH = 160  # px: the heatmaps' colour key, under them (shorter if they are)
# Rows under the heatmaps for the key: a gap, the bar and its frame, ticks, the labels.
HEATMAP_KEY_ZONE = KEY_GAP + KEY_WIDTH + 1 + TICK + 1 + FONT_HEIGHT


def heatmap_key_labels(value_range=(0.0, 1.0)):
  """The heatmaps' key labels ((fraction along the key, label), ...) for an activation's range.

  A bounded range is labelled at its ends and middle (sigmoid 0, 0.5, 1; tanh -1, 0, 1); an
  unbounded end is the layer's largest value at that step, 'max' (relu 0 to max; linear -max to
  max, 0 white in the middle), as `to_unit_range` colours it.
  """
  lo, hi = value_range
  if lo is None and hi is None:
    return ((0.0, "-max"), (0.5, "0"), (1.0, "max"))
  if hi is None:
    return ((0.0, _format(lo)), (1.0, "max"))
  return ((0.0, _format(lo)), (0.5, _format((lo + hi) / 2)), (1.0, _format(hi)))


def _heatmaps_size(count, columns, tile):
  rows = -(-count // columns)
  return (2 * MARGIN + columns * tile + (columns - 1) * HEATMAP_GAP,
          2 * MARGIN + rows * (LABEL_HEIGHT + tile) + (rows - 1) * HEATMAP_GAP + HEATMAP_KEY_ZONE)


@functools.lru_cache(maxsize=None)
def heatmap_layout(count):
  """(tile px, heatmaps per row) for a layer of `count` neurons.

  TensorBoard scales a picture to fit its card (`CARD`), so the layout is chosen for the size
  the heatmaps are shown at: the largest tile of TILE_SIZES at which the picture fits the card
  without being shrunk, in as few rows as possible (a 10-neuron layer: two rows of five 48 px
  tiles, not a 10-wide strip shrunk to a third); a layer too wide for that gets TILE px tiles
  (smaller past WIDE_LAYER_PIXELS) in the rows that show them largest.
  """
  fitting = [(tile, -(-count // columns), columns)
             for tile in TILE_SIZES for columns in range(1, count + 1)
             if _heatmaps_size(count, columns, tile)[0] <= CARD[0]
             and _heatmaps_size(count, columns, tile)[1] <= CARD[1]]
  if fitting:
    tile, _, columns = max(fitting, key=lambda f: (f[0], -f[1]))
    return tile, columns

  # Too many to show at TILE px: smaller tiles (down to 16 px) so that the picture stays about
  # the size of the 16 px row it replaces, in the rows that show them largest.
  tile = max([t for t in (16, 24, 32, TILE) if count * t * t <= WIDE_LAYER_PIXELS] + [16])

  def shown(columns):
    width, height = _heatmaps_size(count, columns, tile)
    return min(CARD[0] / width, CARD[1] / height)
  return tile, max(range(1, count + 1), key=shown)


@functools.lru_cache(maxsize=None)
def _heatmaps_canvas(count, key_labels=heatmap_key_labels(), lo=LO, hi=HI):
  """The heatmaps' canvas (numbers, frames, the key), where each tile goes, the tiles' markers."""
  tile, columns = heatmap_layout(count)
  width, height = _heatmaps_size(count, columns, tile)
  canvas = _Canvas(height, width)
  places = []
  for i in range(count):
    row, col = divmod(i, columns)
    top = MARGIN + row * (LABEL_HEIGHT + tile + HEATMAP_GAP) + LABEL_HEIGHT
    left = MARGIN + col * (tile + HEATMAP_GAP)
    canvas.frame(top, left, tile, tile)
    canvas.text(str(i + 1), top - LABEL_HEIGHT, left)
    places.append(canvas.place((tile, tile), top, left))
  # The colour key under the heatmaps, blue (lowest) to red (highest), ticked and labelled.
  key_top = height - MARGIN - HEATMAP_KEY_ZONE + KEY_GAP
  length = min(HEATMAP_KEY_LENGTH, width - 2 * MARGIN)
  levels = np.round((np.arange(length) + 0.5) / length * LEVELS).astype(int)
  canvas.rgb[key_top:key_top + KEY_WIDTH, MARGIN:MARGIN + length] = _ramp()[levels][None]
  canvas.frame(key_top, MARGIN, KEY_WIDTH, length)
  for fraction, label in key_labels:
    col = MARGIN + _axis_pixel(fraction, length)
    canvas.fill(key_top + KEY_WIDTH + 1, col, TICK, 1, TEXT)
    anchor = "left" if fraction == 0 else "right" if fraction == 1 else "centre"
    canvas.text(label, key_top + KEY_WIDTH + 1 + TICK + 1, col + (fraction == 1), anchor=anchor)
  return canvas, places, _xor_markers(tile, max(3.5, tile / 12), lo, hi, ring=1.5)


@_plain_tensor_ops
def neuron_heatmaps_packed(columns, size=GRID, *, value_range=(0.0, 1.0)):
  """`neuron_heatmaps` of activations laid out [width, size * size], as int32 pixels [1, H, W]."""
  count = columns.shape[0]
  tile, per_row = heatmap_layout(count)
  canvas, places, (alpha, colours) = _heatmaps_canvas(count, heatmap_key_labels(value_range))
  unit = tf.reshape(to_unit_range(tf.cast(columns, tf.float32), value_range), [count, size, size])
  resample = tf.constant(_resample(tile, size))
  tiles = tf.einsum("ij,njk,lk->nil", resample, unit, resample)
  tiles = _colour(tiles)
  tiles = tiles + alpha[..., None] * (colours - tiles)
  # Rows of tiles with the gaps and number rows between them, as the canvas places them.
  rows = -(-count // per_row)
  tiles = tf.pad(tiles, [[0, rows * per_row - count], [LABEL_HEIGHT, HEATMAP_GAP],
                         [0, HEATMAP_GAP], [0, 0]])
  cell_h, cell_w = tile + LABEL_HEIGHT + HEATMAP_GAP, tile + HEATMAP_GAP
  grid = tf.reshape(tf.transpose(tf.reshape(tiles, [rows, per_row, cell_h, cell_w, 3]),
                                 [0, 2, 1, 3, 4]), [rows * cell_h, per_row * cell_w, 3])
  grid = grid[:rows * cell_h - HEATMAP_GAP, :per_row * cell_w - HEATMAP_GAP]
  return _pack(canvas.compose(grid, MARGIN, MARGIN))[None]


def neuron_heatmaps(activations, size=GRID, *, value_range=(0.0, 1.0)):
  """One numbered heatmap per neuron of a layer, in rows, as TensorFlow Playground draws them.

  Neuron i's heatmap (numbered i + 1 above it) is its activation over the same plane as the
  decision boundary ([-0.5, 1.5]², x1 to the right, x2 up), resampled from the size x size grid
  to the layout's tile size (`heatmap_layout`), coloured from the activation's lowest value
  (blue) to its highest (red), `to_unit_range`; small discs mark the four XOR inputs. Under
  the heatmaps a colour key labelled with the activation's range (`heatmap_key_labels`).

  Args:
    activations: float [size * size, width], one layer's activations at `grid_points(size)`.
    size: the grid's points per side.
    value_range: the activation's (lo, hi), `to_unit_range`.

  Returns:
    uint8 image [1, H, W, 3].
  """
  return rgb(neuron_heatmaps_packed(tf.transpose(activations), size, value_range=value_range))


def heatmap_boxes(count):
  """[(top, left, side)] of each neuron's heatmap inside `neuron_heatmaps`' picture."""
  tile, _ = heatmap_layout(count)
  return [(top, left, tile) for top, left in _heatmaps_canvas(count)[1]]


FRAME_MARGIN = 0.08  # hidden_space: room around the activation's range, as a fraction of it
POINT_NAMES = tuple(f"{int(x1)}{int(x2)}" for x1, x2 in data.INPUTS)  # '00', '01', '10', '11'


@functools.lru_cache(maxsize=None)
def _hidden_layout(x_name, y_name, ticks):
  canvas, top, left = _framed(HIDDEN_PLOT, ticks, ticks, x_name, y_name)
  return canvas, top, left


def hidden_plot_box(value_range=(0.0, 1.0), width=2):
  """(top, left, side) of hidden_space's plot inside its picture, for a last hidden layer of
  `width` units with activations in value_range, and the plot's (lo, hi) on both axes when
  they are fixed (a bounded activation, width <= 2), else None."""
  x_name, y_name, ticks, span = _hidden_axes(value_range, width)
  _, top, left = _hidden_layout(x_name, y_name, ticks)
  return top, left, HIDDEN_PLOT, span


def _hidden_axes(value_range, width):
  """Axis names, ticks and the fixed (lo, hi) of hidden_space's plot (None: fitted to it)."""
  lo, hi = value_range
  names = ("h1", "h2") if width <= 2 else ("u", "v")
  if width > 2 or lo is None or hi is None:
    return (*names, (), None)
  margin = FRAME_MARGIN * (hi - lo)
  span = (lo - margin, hi + margin)
  ticks = tuple(((v - span[0]) / (span[1] - span[0]), _format(v)) for v in (lo, hi))
  return (*names, ticks, span)


def _projection(w, points):
  """[k, 2] orthonormal basis (u, v) of the plane hidden_space shows a k-unit layer in.

  u is along the output weights w, so the output's logit w·h + b is |w| u + b and its 0.5 line
  stays a straight line (u = -b / |w|); v is the main direction (first principal component,
  by power iteration) of the points [k, N] after their u component is removed.
  """
  k = w.shape[0]
  norm = tf.norm(w)
  u = tf.where(norm > 0, w / tf.maximum(norm, 1e-30), tf.one_hot(0, k))
  centred = points - tf.reduce_mean(points, axis=1, keepdims=True)
  rest = centred - u[:, None] * tf.reduce_sum(u[:, None] * centred, axis=0, keepdims=True)
  covariance = tf.matmul(rest, rest, transpose_b=True)
  # Power iteration by repeated squaring: C^(2^POWER_SQUARINGS) v0, a few matmuls to compile
  # instead of a long chain of matrix-vector products; each square rescaled by its trace.
  for _ in range(POWER_SQUARINGS):
    covariance = covariance @ covariance
    covariance = covariance / tf.maximum(tf.linalg.trace(covariance), 1e-30)
  v = tf.constant(np.cos(1.3 * np.arange(k) + 0.4).astype(np.float32))
  v = tf.linalg.matvec(covariance, v - u * tf.reduce_sum(u * v))
  v = v - u * tf.reduce_sum(u * v)
  v = v / tf.maximum(tf.norm(v), 1e-30)
  v = v * tf.where(tf.gather(v, tf.argmax(tf.abs(v))) < 0, -1.0, 1.0)  # one sign, always
  return tf.stack([u, v], axis=1)


def _polyline_alpha(rows, cols, strength, size):
  """alpha [size, size] of polylines through points rows, cols [lines, samples] (pixels),
  line i drawn with opacity strength[i]: each segment cut in LINE_STEPS, every point spread
  over its 4 nearest pixels (bilinear) and the most a pixel gets kept."""
  t = tf.constant(np.arange(LINE_STEPS, dtype=np.float32) / LINE_STEPS)
  lines = rows.shape[0]

  def dense(v):
    steps = v[:, :-1, None] + (v[:, 1:, None] - v[:, :-1, None]) * t
    return tf.concat([tf.reshape(steps, [lines, -1]), v[:, -1:]], axis=1)

  r, c = dense(rows) - 0.5, dense(cols) - 0.5  # from pixel centres
  weight = tf.broadcast_to(tf.constant(strength, tf.float32)[:, None], r.shape)
  r0, c0 = tf.floor(r), tf.floor(c)
  fr, fc = r - r0, c - c0
  r0, c0 = tf.cast(r0, tf.int32), tf.cast(c0, tf.int32)
  indices, values = [], []
  for dr, wr in ((0, 1 - fr), (1, fr)):
    for dc, wc in ((0, 1 - fc), (1, fc)):
      rr, cc = r0 + dr, c0 + dc
      inside = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
      indices.append(tf.where(inside, rr * size + cc, size * size))
      values.append(weight * wr * wc)
  alpha = tf.math.unsorted_segment_max(tf.reshape(tf.stack(values), [-1]),
                                       tf.reshape(tf.stack(indices), [-1]), size * size + 1)
  return tf.reshape(tf.maximum(alpha[:-1], 0.0), [size, size])


@_plain_tensor_ops
def hidden_space_packed(lines, points, kernel, bias, value_range=(0.0, 1.0)):
  """`hidden_space` as int32 pixels [1, H, W] (0xFFRRGGBB)."""
  width = lines.shape[0]
  w = tf.reshape(tf.cast(kernel, tf.float32), [width])
  b = tf.reshape(tf.cast(bias, tf.float32), [])
  lines, points = tf.cast(lines, tf.float32), tf.cast(points, tf.float32)
  if width == 1:  # one unit: the plane (h1, 0), the 0.5 line upright at h1 = -b / w
    lines, points = (tf.pad(v, [[0, 1], [0, 0]]) for v in (lines, points))
    w = tf.pad(w, [[0, 1]])
  if width <= 2:
    plane_lines, plane_points, a = lines, points, w
  else:
    basis = _projection(w, tf.concat([lines, points], axis=1))
    plane_lines, plane_points = tf.transpose(basis) @ lines, tf.transpose(basis) @ points
    a = tf.linalg.matvec(basis, w, transpose_a=True)  # (|w|, 0): w lies in the plane
  x_name, y_name, ticks, span = _hidden_axes(value_range, width)
  canvas, top, left = _hidden_layout(x_name, y_name, ticks)
  size = HIDDEN_PLOT
  if span is not None:
    lo = tf.constant([span[0]] * 2, tf.float32)
    hi = tf.constant([span[1]] * 2, tf.float32)
  else:  # fitted to everything drawn, with a margin; no axis shrinks below a quarter of the other
    both = tf.concat([plane_lines, plane_points], axis=1)
    least, most = tf.reduce_min(both, axis=1), tf.reduce_max(both, axis=1)
    extent = tf.maximum(most - least, tf.maximum(0.25 * tf.reduce_max(most - least), 1e-6))
    centre = (least + most) / 2
    lo, hi = centre - (0.5 + FRAME_MARGIN) * extent, centre + (0.5 + FRAME_MARGIN) * extent
  per_pixel = (hi - lo) / size

  def pixels(plane):  # plane coordinates [2, ...] -> (row, col) in pixels from the plot's corner
    return (hi[1] - plane[1]) / per_pixel[1], (plane[0] - lo[0]) / per_pixel[0]

  centres = (np.arange(size, dtype=np.float32) + 0.5)
  x = lo[0] + centres * per_pixel[0]
  y = hi[1] - centres * per_pixel[1]
  logits = a[0] * x[None, :] + a[1] * y[:, None] + b  # the output's logit over the plane
  plot = WHITE + TINT * (_colour(tf.sigmoid(logits)) - WHITE)
  count = 2 * len(GRID_LINES)
  rows, cols = pixels(tf.reshape(plane_lines, [2, count, -1]))
  edge = [0.9 if v in (0.0, 1.0) else 0.4 for v in GRID_LINES] * 2
  plot = _blend(plot, _polyline_alpha(rows, cols, edge, size), GRID_EDGE)
  # The 0.5 line, anti-aliased: the logit is linear, so a pixel's distance to it is |logit|
  # over the logit's change per pixel.
  slope = tf.sqrt(tf.square(a[0] * per_pixel[0]) + tf.square(a[1] * per_pixel[1]))
  distance = tf.abs(logits) / tf.maximum(slope, 1e-30)
  coverage = tf.clip_by_value(LINE_WIDTH / 2 + 0.5 - distance, 0.0, 1.0)
  plot = _blend(plot, tf.where(slope > 0, coverage, 0.0), CONTOUR)
  rows, cols = pixels(plane_points)
  labels = data.LABELS[:, 0].astype(int)
  order = sorted(range(len(labels)), key=lambda i: labels[i])  # target 0 first, and larger:
  plot = _discs(plot, tf.gather(rows, order), tf.gather(cols, order),  # a target-1 disc on one
                [HIDDEN_RADII[labels[i]] for i in order],               # stays visible
                [CLASS_COLORS[labels[i]] for i in order])
  # Each point's name beside it, on the side its input lies in the square (00 lower left, 11
  # upper right), after the discs so that none hides under one, and inside the plot.
  names = _stack([_label(name) for name in POINT_NAMES])
  _, h, w_ = names[0].shape
  half = int(math.ceil(HIDDEN_RADII[0]))
  x1, x2 = data.INPUTS[:, 0] > 0, data.INPUTS[:, 1] > 0
  row = tf.cast(tf.round(rows), tf.int32) + np.where(x2, 1 - half - h, half - 1).astype(np.int32)
  col = tf.cast(tf.round(cols), tf.int32) + np.where(x1, half - 1, 1 - half - w_).astype(np.int32)
  plot = _stamps(plot, names, tf.clip_by_value(row, 0, size - h),
                 tf.clip_by_value(col, 0, size - w_))
  return _pack(canvas.compose(plot, top, left))[None]


def hidden_space(lines, points, kernel, bias, value_range=(0.0, 1.0)):
  """The XOR problem as the last hidden layer sees it, and the output unit's line in it.

  The output unit is a logistic unit on the last hidden layer's activations h: it says 1 where
  w·h + b > 0, on one side of a straight line. The picture shows the hidden plane: the four XOR
  inputs where the hidden layers map them (discs in their target's colour, named 00, 01, 10,
  11; the target-1 discs smaller and on top, so that a red and a blue point that meet stay
  visible), the images of the input square's grid lines x1 = c and x2 = c (its edges darker), the
  output's probability as a light background (blue 0, white 0.5, red 1) and its 0.5 line,
  dark. The net is right exactly when that line separates the red discs from the blue ones.

  For a layer of two units (`nn`, `concat`) the plane is (h1, h2) itself, and for a bounded
  activation it spans the activation's range (`value_range`) with a margin, ticked at its ends.
  For a wider layer it is the plane through the points' mean spanned by u, the output weights'
  direction (so the 0.5 line is upright, at u = -b / |w|), and v, the main direction of the
  rest (`_projection`); its axes fit what is drawn. A one-unit layer is drawn on (h1, 0).

  Args:
    lines: float [k, 2 * len(GRID_LINES) * LINE_SAMPLES], the last hidden layer's k units at
      `grid_line_points()`, line after line.
    points: float [k, 4], the same at the four XOR inputs (`data.INPUTS`).
    kernel: the output unit's kernel [k, 1].
    bias: its bias [1].
    value_range: the hidden activation's (lo, hi), None where unbounded.

  Returns:
    uint8 image [1, H, W, 3].
  """
  return rgb(hidden_space_packed(lines, points, kernel, bias, value_range))


def output_unit(params):
  """(kernel [k, 1], bias [1]) of the output unit: the last layer's, by the params' order."""
  layer = tags.layer_of(list(params)[-1])
  return params[tags.param_name(layer, "kernel")], params[tags.param_name(layer, "bias")]


def last_hidden(activations, width):
  """The activations the output unit reads, [width, N]: the trailing hidden layers, in order,
  whose widths add up to its kernel's rows (one layer for an MLP, unit1 and unit2 for concat).

  Raises:
    ValueError: if no trailing layers add up to `width`.
  """
  hidden = [name for name in activations if name != tags.OUTPUT]
  taken, total = [], 0
  while hidden and total < width:
    taken.insert(0, hidden.pop())
    total += activations[taken[0]].shape[0]
  if total != width:
    received = ", ".join(f"{n}: {activations[n].shape[0]}" for n in activations)
    raise ValueError(f"Expected hidden layers of {width} units in all before the output; "
                     f"received {received}.")
  return tf.concat([activations[name] for name in taken], axis=0)


@_plain_tensor_ops
def draw_packed(apply_columns, params, size=GRID, value_range=(0.0, 1.0)):
  """Every picture of a network, as int32 pixels {layer name: [1, H, W]} (0xFFRRGGBB).

  One forward pass, one batch: the size x size grid, the input square's grid lines and the four
  XOR inputs. 'output' is the decision boundary, each hidden layer its numbered heatmaps,
  and tags.HIDDEN_SPACE (a network with a hidden layer) the hidden layer's view.

  Args:
    apply_columns: a network's `apply_columns(params, points [2, N])`.
    params: its parameters, the output layer's last (`output_unit`).
    size: the grid's points per side.
    value_range: the hidden activation's range (`to_unit_range`), which the heatmaps span.
  """
  grid = _grid_array(size).T
  line_points = grid_line_points().reshape(-1, 2).T
  points = np.concatenate([grid, line_points, data.INPUTS.T], axis=1)
  logits, columns = apply_columns(params, tf.constant(points, tf.float32))
  n, m = size * size, line_points.shape[1]
  drawn = {name: decision_boundary_packed(None, size, logits=logits[:, :n]) if name == tags.OUTPUT
           else neuron_heatmaps_packed(value[:, :n], size, value_range=value_range)
           for name, value in columns.items()}
  if len(columns) > 1:
    kernel, bias = output_unit(params)
    hidden = last_hidden(columns, kernel.shape[0])
    drawn[tags.HIDDEN_SPACE] = hidden_space_packed(hidden[:, n:n + m], hidden[:, n + m:],
                                                   kernel, bias, value_range)
  return drawn


def draw(apply_columns, params, size=GRID, value_range=(0.0, 1.0)):
  """`draw_packed` as uint8 RGB images {layer name: [1, H, W, 3]}."""
  return {name: rgb(image) for name, image in
          draw_packed(apply_columns, params, size, value_range).items()}


def describe(tag):
  """What a picture tag's colours and axes mean: its description on TensorBoard's card."""
  if tag == tags.picture(tags.OUTPUT):
    return ("The network's output probability p over the input plane: x1 to the right, x2 up, "
            "both from -0.5 to 1.5 (ticks at 0 and 1). Colour: blue p = 0, white p = 0.5, "
            "red p = 1 (the key on the right). The dark line is p = 0.5, the decision boundary. "
            "The discs are the four XOR inputs in their target's colour (blue 0, red 1): a disc "
            "on the other colour is a point the network gets wrong.")
  if tag == tags.picture(tags.HIDDEN_SPACE):
    return ("The four XOR inputs as the last hidden layer sees them: each disc (named by its "
            "input x1 x2: 00, 01, 10, 11; blue target 0, red target 1) sits at that layer's "
            "activations for it; the grey curves are the input square's grid lines (x1 or x2 "
            "= 0, 0.25, ..., 1; its edges darker) mapped the same way. The output unit is a "
            "straight line in this plane: the background is its probability (blue 0, white "
            "0.5, red 1) and the dark line its p = 0.5. The net is right exactly when that "
            "line separates the red discs from the blue ones. Axes: the activations h1, h2 of a "
            "2-unit layer; for a wider layer, u along the output weights and v the main "
            "direction of the rest.")
  layer = tag.split("/", 1)[1]
  return (f"One heatmap per neuron of {layer}, numbered from 1: its activation over the same "
          "plane as the decision boundary (x1 to the right, x2 up, -0.5 to 1.5). Colour: from "
          "blue, the activation's lowest value (0 for sigmoid and relu, -1 for tanh), through "
          "white to red, its highest (1; for relu and linear, the layer's largest value), as "
          "the key under the heatmaps shows. The small discs are the four XOR inputs in their "
          "target's colour.")


def png(image, *, scale=1, compression=-1):
  """PNG bytes of one uint8 RGB image (eager; tf.io.encode_png does not compile with XLA).

  Args:
    image: uint8 [1, H, W, 3] (as the functions above return) or [H, W, 3].
    scale: integer upscaling (nearest neighbour), so that the pixel font stays sharp.
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
  return tf.io.encode_png(_upscale(image, scale, 0), compression=compression).numpy()
