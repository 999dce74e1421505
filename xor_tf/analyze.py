"""Why nets get stuck: the loss surface at the final weights of every net that fails XOR.

    python -m xor_tf.analyze --arch=nn --activation=sigmoid,tanh,relu --seeds=0-999

Trains the grid like `xor_tf.sweep` (the same grid flags), then for every net that ends
unsolved, and for a few solved ones as controls (--controls), at its final weights: the loss,
the gradient norm and the eigenvalues of the exact Hessian of the loss with respect to all
parameters (`xor_tf.hessian`, float64); an escape test (training continued for --escape_steps
from the final weights as they are, after a random nudge of size --nudge, and after a step of
the same length along the most negative curvature direction, where there is one); and a class:

  diverged     the loss became NaN or infinite
  solved       all four points right (a control)
  dead units   relu only: a hidden unit is 0 on all four points, so its gradients are exactly 0
  descending   gradient norm > --grad_tol, or positive curvature everywhere and training
               continued from the weights as they are solves XOR: not stopped, only slow
  saddle       the smallest Hessian eigenvalue < -curvature_tol
  flat         no eigenvalue < -curvature_tol, and some |eigenvalue| <= curvature_tol:
               degenerate, the second derivatives cannot tell minimum from saddle
  local minimum  every eigenvalue > curvature_tol, and continuing does not solve XOR

The rules are tried in this order (`classify`). Everything goes into a new directory under
--logdir: a census-style table per configuration (stdout, TensorBoard Text), HParams metrics
per configuration, pictures (PNGs and TensorBoard images) of the loss along the line from the
initial to the final weights and on a 2-D slice along curvature directions, for a stuck and a
solved net side by side; --json writes every analysed net's record.
"""

import concurrent.futures
import dataclasses
import json
import math
import os
import sys
import time
import types

from absl import app
from absl import flags
from absl import logging
import numpy as np

from xor_tf import cli
from xor_tf import config as config_lib
from xor_tf import rundir
from xor_tf import sweep

PROG = "xor_tf.analyze"
GRAD_TOL = 1e-3  # gradient norm above which a net is still descending
CURVATURE_TOL = 1e-4  # |eigenvalue| up to which a curvature counts as zero
CLASSES = ("solved", "descending", "saddle", "flat", "local minimum", "dead units", "diverged")
ESCAPES = ("continued", "nudged", "curvature")
_FLAGS = None


def classify(grad_norm, eigenvalues, *, solved=False, diverged=False, dead_units=0,
             continued_solves=False, grad_tol=GRAD_TOL, curvature_tol=CURVATURE_TOL):
  """One net's class by the rules of the module docstring, tried in order.

  Args:
    grad_norm: the gradient's Euclidean norm at the final weights.
    eigenvalues: the Hessian's eigenvalues there (any order).
    solved, diverged: the net's outcome.
    dead_units: hidden units at exactly 0 on all four points.
    continued_solves: whether training continued from the weights as they are solved XOR.
    grad_tol, curvature_tol: the tolerances.
  """
  if diverged or not math.isfinite(grad_norm):
    return "diverged"
  if solved:
    return "solved"
  if dead_units:
    return "dead units"
  if grad_norm > grad_tol:
    return "descending"
  smallest = float(np.min(eigenvalues))
  if smallest < -curvature_tol:
    return "saddle"
  if smallest <= curvature_tol:
    return "flat"
  return "descending" if continued_solves else "local minimum"


@dataclasses.dataclass
class Analysis:
  """The analysed nets of one configuration (arrays over the analysed nets, in seed order)."""

  config: config_lib.Config
  seeds_trained: int
  solved_trained: int
  seeds: np.ndarray  # [A]
  classes: list  # [A] str
  loss: np.ndarray  # [A] float64 at the final weights
  grad_norm: np.ndarray  # [A]
  eigenvalues: np.ndarray  # [A, P] ascending
  dead_units: np.ndarray  # [A]
  escape_steps: dict  # {'continued'|'nudged'|'curvature': [A] first step solved, -1 never, -2 not run}
  continued_loss: np.ndarray  # [A] loss at the end of the continued run (NaN: not run)
  weight_norm: np.ndarray  # [A] ‖θ‖ of the final weights
  params: dict  # {name: [A, *shape]} the final weights
  initial: dict  # {name: [A, *shape]} the initial weights
  seconds: float = 0.0

  def records(self):
    """Per-net records for --json."""
    out = []
    for i, seed in enumerate(self.seeds):
      out.append({
          "configuration": sweep.config_name(self.config), "seed": int(seed),
          "class": self.classes[i], "loss": float(self.loss[i]),
          "gradient_norm": float(self.grad_norm[i]),
          "hessian_eigenvalues": [float(v) for v in self.eigenvalues[i]],
          "dead_units": int(self.dead_units[i]), "weight_norm": float(self.weight_norm[i]),
          "loss_after_continuing": (None if math.isnan(self.continued_loss[i])
                                    else float(self.continued_loss[i])),
          "escape_steps": {k: _escape_json(v[i]) for k, v in self.escape_steps.items()},
          "final_weights": {k: np.asarray(v[i], np.float64).tolist()
                            for k, v in self.params.items()}})
    return out


NEVER, NOT_RUN = -1, -2


def _escape_json(step):
  return None if step == NEVER else ("not run" if step == NOT_RUN else int(step))


def continue_training(config, params, steps):
  """Trains nets from given weights for `steps` more steps, all at once, by the ensemble's loop.

  Args:
    config: the configuration (optimizer, learning rate, loss) of the continued training.
    params: {name: [M, *shape]} the weights to start from (fresh optimizer slots, step 0).
    steps: how many steps.

  Returns:
    (first step at which all four points were right and stayed so to the end [M], or NEVER;
    final accuracy [M]; final weights {name: [M, *shape]}). The same weights give the same
    numbers, bit for bit (the same compiled program and blocks).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top

  config = dataclasses.replace(config, steps=steps)
  prog = ensemble.program(config)
  count = len(next(iter(params.values())))
  # As the ensemble trains: cache-sized blocks, one per core at a time, each its own stack;
  # the last block is padded by repeating the last net (the nets do not mix) and the padding
  # dropped after.
  workers = max(1, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 1
  size = ensemble.block_size(prog.net, count, workers)
  blocks = -(-count // size)
  hyper = {k: tf.constant(v, tf.float32) for k, v in config.hyperparameters.items()}
  chunk = ensemble.steps_per_chunk(prog.net, size, steps)

  def train_block(b):
    state = prog.initial_state(config.init, list(range(size)))
    state["params"] = {k: ensemble.models_last(tf.constant(
        _pad(np.asarray(params[k])[b * size:(b + 1) * size], size), tf.float32))
                       for k in state["params"]}
    for until in list(range(chunk, steps, chunk)) + [steps]:
      state = prog.advance(state, tf.constant(until, tf.int64), hyper)
    return {k: np.asarray(v) for k, v in prog.finish(state).items()}

  with concurrent.futures.ThreadPoolExecutor(min(blocks, workers)) as pool:
    finals = list(pool.map(train_block, range(blocks)))
  final = {k: np.concatenate([f[k] for f in finals])[:count] for k in finals[0]}
  solved, accuracy = final["solved_step"], final["accuracy"]
  weights = {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("params/")}
  return np.where((accuracy == 1.0) & (final["diverged_step"] == NEVER), solved,
                  NEVER), accuracy, weights


def _pad(value, rows):
  return np.concatenate([value, np.repeat(value[-1:], rows - len(value), axis=0)])


def starts(net, theta, seeds, eigenvalues, eigenvectors, nudge, curvature_tol, loss_kind):
  """The three escape runs' starting points θ [A, P] each, and which nets have a curvature run.

  nudged: each weight plus nudge x N(0, 1), drawn from the net's seed (reproducible).
  curvature: a step of length nudge x sqrt(P) (the nudge's expected length) along the unit
  eigenvector of the smallest eigenvalue, signed so that the loss goes down more.
  """
  from xor_tf import hessian  # pylint: disable=g-import-not-at-top
  count, size = theta.shape
  noise = np.stack([np.random.default_rng([int(s), 17]).standard_normal(size) for s in seeds]) \
      if count else np.zeros((0, size))
  nudged = theta + nudge * noise
  direction = eigenvectors[:, :, 0] if count else np.zeros((0, size))
  step = nudge * math.sqrt(size) * direction
  if count:
    plus = hessian.loss_at(net, theta + step, loss_kind)
    minus = hessian.loss_at(net, theta - step, loss_kind)
    step = np.where((plus <= minus)[:, None], step, -step)
  has_curvature = eigenvalues[:, 0] < -curvature_tol if count else np.zeros(0, bool)
  return nudged, theta + step, has_curvature


def analyze_config(config, seeds, *, controls=10, escape_steps=None, nudge=0.1,
                   grad_tol=GRAD_TOL, curvature_tol=CURVATURE_TOL):
  """Trains `config` over `seeds` and analyses its unsolved nets and `controls` solved ones.

  Returns:
    An `Analysis`.
  """
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  from xor_tf import hessian  # pylint: disable=g-import-not-at-top

  before = time.perf_counter()
  results = ensemble.train(config, seeds)
  net = ensemble.template(config)
  solved = results.solved
  picked = np.nonzero(~solved)[0].tolist() + np.nonzero(solved)[0][:controls].tolist()
  picked = np.array(sorted(picked), np.int64)
  a_seeds = results.seeds[picked]
  final = {k: v[picked] for k, v in results.params.items()}
  initial = {k: np.asarray(v)[picked] for k, v in
             ensemble.initial_params(net, config.init, results.seeds).items()}
  theta = hessian.flatten(net, final).astype(np.float64)
  finite = np.all(np.isfinite(theta), axis=1)
  size = theta.shape[1]
  loss = np.full(len(picked), np.nan)
  grad_norm = np.full(len(picked), np.nan)
  eigenvalues = np.full((len(picked), size), np.nan)
  eigenvectors = np.zeros((len(picked), size, size))
  dead = np.zeros(len(picked), np.int64)
  if finite.any():
    l, g, h = hessian.derivatives(net, theta[finite], config.loss)
    loss[finite], grad_norm[finite] = l, np.linalg.norm(g, axis=1)
    eigenvalues[finite], eigenvectors[finite] = hessian.spectrum(h)
    if config.activation == "relu":
      dead[finite] = hessian.dead_units(net, theta[finite])
  escape_steps = escape_steps or 100 * config.steps
  runs = {k: np.full(len(picked), NOT_RUN, np.int64) for k in ESCAPES}
  continued_loss = np.full(len(picked), np.nan)
  todo = finite & ~solved[picked]
  if todo.any():
    t = theta[todo]
    nudged, along, has_curvature = starts(net, t, a_seeds[todo], eigenvalues[todo],
                                          eigenvectors[todo], nudge, curvature_tol,
                                          config.loss)
    batch = np.concatenate([t, nudged, along[has_curvature]])
    steps, _, weights = continue_training(config, hessian.unflatten(net, batch), escape_steps)
    n = len(t)
    after = hessian.flatten(net, weights)[:n].astype(np.float64)
    ok = np.all(np.isfinite(after), axis=1)
    continued_loss[np.nonzero(todo)[0][ok]] = hessian.loss_at(net, after[ok], config.loss)
    runs["continued"][todo] = steps[:n]
    runs["nudged"][todo] = steps[n:2 * n]
    curvature = np.full(n, NOT_RUN, np.int64)
    curvature[has_curvature] = steps[2 * n:]
    runs["curvature"][todo] = curvature
  classes = [classify(grad_norm[i], eigenvalues[i], solved=bool(solved[picked[i]]),
                      diverged=bool(results.diverged[picked[i]] or not finite[i]),
                      dead_units=int(dead[i]), continued_solves=runs["continued"][i] >= 0,
                      grad_tol=grad_tol, curvature_tol=curvature_tol)
             for i in range(len(picked))]
  return Analysis(config=config, seeds_trained=len(results), solved_trained=int(solved.sum()),
                  seeds=a_seeds, classes=classes, loss=loss, grad_norm=grad_norm,
                  eigenvalues=eigenvalues, dead_units=dead, escape_steps=runs,
                  continued_loss=continued_loss, weight_norm=np.linalg.norm(theta, axis=1),
                  params=final,
                  initial=initial, seconds=time.perf_counter() - before)


def _median(values):
  return f"{np.median(values):.3g}" if len(values) else "—"


def _escaped(steps):
  ran = steps[steps != NOT_RUN]
  if not len(ran):
    return "—"
  won = ran[ran >= 0]
  return f"{len(won)}/{len(ran)}" + (f", median {np.median(won):g}" if len(won) else "")


def table(analyses):
  """A Markdown table, one row per configuration and class present (solved: the controls)."""
  rows = ["| configuration | solved / seeds | class | nets | median loss | median ‖g‖ | "
          "median λmin | median λmax | median ‖θ‖ | median loss after continuing | "
          "solve when continued | after nudge | along λmin |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for a in analyses:
    classes = np.array(a.classes)
    for c in CLASSES:
      m = classes == c
      ran = np.isfinite(a.continued_loss)
      if not m.any():
        continue
      label = c + (" (controls)" if c == "solved" else "")
      rows.append(
          f"| {config_lib.describe(a.config)} | {a.solved_trained}/{a.seeds_trained} | {label} "
          f"| {int(m.sum())} | {_median(a.loss[m])} | {_median(a.grad_norm[m])} "
          f"| {_median(a.eigenvalues[m, 0])} | {_median(a.eigenvalues[m, -1])} "
          f"| {_median(a.weight_norm[m])} | {_median(a.continued_loss[m & ran])} "
          + "".join(f"| {_escaped(a.escape_steps[k][m])} " for k in ESCAPES) + "|")
  return "\n".join(rows)


METRICS = {**{f"analysis/fraction_{c.replace(' ', '_')}": f"Fraction of the seeds classed {c} "
              "(solved: of all seeds)." for c in CLASSES},
           "analysis/median_escape_steps": "Median steps to solve XOR when training of the "
                                           "unsolved nets is continued (over those that do)."}


def metrics(a):
  """{metric tag: value} of one configuration for HParams (NaN ones are left out)."""
  classes = np.array(a.classes)
  out = {f"analysis/fraction_{c.replace(' ', '_')}": float(np.sum(classes == c)) / a.seeds_trained
         for c in CLASSES if c != "solved"}
  out["analysis/fraction_solved"] = a.solved_trained / a.seeds_trained
  won = a.escape_steps["continued"][a.escape_steps["continued"] >= 0]
  if len(won):
    out["analysis/median_escape_steps"] = float(np.median(won))
  return out


# ---------------------------------------------------------------------------------------------
# Pictures: plain numpy rasters coloured by xor_tf.pictures' ramp, no plotting library.

PANEL = 164  # pixels of each square panel
SLICE_POINTS = 41  # grid points per side of the 2-D slice
SLICE_RADIUS = 2.0  # the slice spans ±this along each unit direction


def line_losses(net, initial, final, loss_kind, points=PANEL):
  """(alphas, loss [points]) along (1 - α)·initial + α·final, α from -0.25 to 1.25; θ [P] each."""
  from xor_tf import hessian  # pylint: disable=g-import-not-at-top
  alphas = np.linspace(-0.25, 1.25, points)
  theta = (1 - alphas)[:, None] * initial[None] + alphas[:, None] * final[None]
  return alphas, hessian.loss_at(net, theta, loss_kind)


def slice_directions(eigenvalues, eigenvectors):
  """The two unit directions of the slice: most negative and most positive curvature, or where
  none is negative the smallest and the largest."""
  return eigenvectors[:, 0], eigenvectors[:, -1]


def slice_losses(net, final, u, v, loss_kind, points=SLICE_POINTS, radius=SLICE_RADIUS):
  """loss [points, points] at final + s·u + t·v, rows t from +radius down, columns s."""
  from xor_tf import hessian  # pylint: disable=g-import-not-at-top
  s = np.linspace(-radius, radius, points)
  t = s[::-1]
  theta = final[None, None] + s[None, :, None] * u + t[:, None, None] * v
  return hessian.loss_at(net, theta.reshape(-1, len(final)), loss_kind).reshape(points, points)


def _line_image(alphas, values):
  """A white panel with the curve in black, α = 0 and α = 1 marked by grey verticals."""
  image = np.full((PANEL, PANEL, 3), 255, np.uint8)
  for alpha in (0.0, 1.0):
    image[:, int(np.argmin(np.abs(alphas - alpha)))] = 180
  lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
  rows = np.round((PANEL - 5) - (values - lo) / max(hi - lo, 1e-12) * (PANEL - 10)).astype(int)
  for col in range(PANEL):
    a, b = sorted((rows[col], rows[min(col + 1, PANEL - 1)]))
    image[a:b + 1, col] = 0
  return image


def _slice_image(values):
  """The slice coloured blue (lowest) to red (highest), the final weights marked at the centre."""
  from xor_tf import pictures  # pylint: disable=g-import-not-at-top
  lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
  scaled = (values - lo) / max(hi - lo, 1e-12)
  image = np.asarray(pictures.colormap(scaled))
  scale = PANEL // SLICE_POINTS
  image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
  full = np.full((PANEL, PANEL, 3), 255, np.uint8)
  full[:image.shape[0], :image.shape[1]] = image
  c = image.shape[0] // 2
  full[c - 1:c + 2, c - 1:c + 2] = 0
  return full


def landscape_image(net, initial, final, eigenvalues, eigenvectors, loss_kind):
  """One net's two panels side by side, [PANEL, 2·PANEL + 4, 3] uint8: the line, the slice."""
  alphas, values = line_losses(net, initial, final, loss_kind)
  u, v = slice_directions(eigenvalues, eigenvectors)
  grid = slice_losses(net, final, u, v, loss_kind)
  gap = np.full((PANEL, 4, 3), 255, np.uint8)
  return np.concatenate([_line_image(alphas, values), gap, _slice_image(grid)], axis=1)


def landscape(net, initial, final, loss_kind):
  """`landscape_image` of one net from its initial and final θ [P] (a single run's picture)."""
  from xor_tf import hessian  # pylint: disable=g-import-not-at-top
  _, _, h = hessian.derivatives(net, final[None], loss_kind)
  values, vectors = hessian.spectrum(h)
  return landscape_image(net, initial, final, values[0], vectors[0], loss_kind)


def write_landscape(directory, net, initial_params, final_params, loss_kind, name="landscape"):
  """For `xor_tf.train --landscape` (to be wired by its owner): a single run's two pictures.

  Args:
    directory: the run's directory; gets <name>.png and a TensorBoard image 'landscape/<name>'.
    net: the run's network (`models.Network`).
    initial_params, final_params: {name: array of the parameter's shape}.
    loss_kind: 'bce' or 'mse'.

  Returns:
    The PNG's path.
  """
  from xor_tf import hessian  # pylint: disable=g-import-not-at-top
  initial = hessian.flatten(net, {k: np.asarray(v)[None] for k, v in initial_params.items()})[0]
  final = hessian.flatten(net, {k: np.asarray(v)[None] for k, v in final_params.items()})[0]
  image = landscape(net, initial.astype(np.float64), final.astype(np.float64), loss_kind)
  return _write_image(directory, name, image, "Left: the loss along the straight line from the "
                      "initial (α=0, grey) to the final weights (α=1, grey), α from -0.25 to "
                      "1.25. Right: the loss around the final weights (black dot) along the "
                      "most negative (horizontal) and most positive (vertical) curvature "
                      f"directions, ±{SLICE_RADIUS:g}; blue low, red high.")


def _write_image(directory, name, image, description):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from xor_tf import pictures  # pylint: disable=g-import-not-at-top
  path = os.path.join(directory, f"{name}.png")
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(pictures.png(image))
  writer = tf.summary.create_file_writer(directory)
  with writer.as_default():
    tf.summary.image(f"landscape/{name}", image[None], step=0, description=description)
  writer.close()
  return path


def config_picture(a):
  """A stuck net (top) and a solved one (bottom) of one configuration, or None if either is
  missing: [line | slice] each."""
  from xor_tf import ensemble  # pylint: disable=g-import-not-at-top
  from xor_tf import hessian  # pylint: disable=g-import-not-at-top
  classes = np.array(a.classes)
  stuck = [i for i, c in enumerate(classes) if c not in ("solved", "diverged")]
  solved = [i for i, c in enumerate(classes) if c == "solved"]
  if not stuck or not solved:
    return None
  net = ensemble.template(a.config)
  rows = []
  for i in (stuck[0], solved[0]):
    initial = hessian.flatten(net, {k: v[i:i + 1] for k, v in a.initial.items()})[0]
    final = hessian.flatten(net, {k: v[i:i + 1] for k, v in a.params.items()})[0]
    rows.append(landscape(net, initial.astype(np.float64), final.astype(np.float64),
                          a.config.loss))
  gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
  return np.concatenate([rows[0], gap, rows[1]], axis=0), (int(a.seeds[stuck[0]]),
                                                             int(a.seeds[solved[0]]))


# ---------------------------------------------------------------------------------------------
# Writing the analysis directory.


def write_config(directory, a):
  """The configuration's run: its table (Text), HParams and metrics, and its picture."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  step = a.config.steps
  writer = tf.summary.create_file_writer(directory)
  with writer.as_default():
    hp.hparams(sweep.hparam_values(a.config), trial_id=os.path.basename(directory))
    for tag, value in metrics(a).items():
      tf.summary.scalar(tag, value, step=step, description=METRICS[tag])
    tf.summary.text("analysis", table([a]), step=step)
  writer.close()
  picture = config_picture(a)
  if picture is not None:
    image, (stuck, solved) = picture
    _write_image(directory, "landscape", image,
                 f"Top: seed {stuck} ({a.classes[list(a.seeds).index(stuck)]}); bottom: seed "
                 f"{solved} (solved). Left: the loss from the initial (α=0) to the final "
                 "weights (α=1), α from -0.25 to 1.25. Right: the loss around the final weights "
                 "(black dot) along the most negative (horizontal) and most positive (vertical) "
                 f"curvature directions, ±{SLICE_RADIUS:g}; blue low, red high.")


def run(configs, seeds, *, logdir, name=None, controls=10, escape_steps=None, nudge=0.1,
        grad_tol=GRAD_TOL, curvature_tol=CURVATURE_TOL, json_path=None, flag_lines=(),
        out=sys.stdout):
  """Analyses every configuration over `seeds`; writes the analysis directory; returns
  (analyses, directory)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top

  directory = sweep.create_sweep_dir(logdir, name or sweep.default_sweep_name().replace(
      "sweep-", "analysis-"))
  with tf.io.gfile.GFile(os.path.join(directory, rundir.FLAGS_FILE), "w") as f:
    f.write("".join(line + "\n" for line in flag_lines))
  hparams, _ = sweep.hparams_of(configs, seeds, "config")
  root = tf.summary.create_file_writer(directory)
  with root.as_default():
    hp.hparams_config(hparams, [hp.Metric(t, description=d) for t, d in METRICS.items()])
  root.flush()
  out.write(f"{PROG}: {len(configs)} configurations x {len(seeds)} seeds\n"
            f"analysis directory: {directory}\n")
  analyses = []
  for i, config in enumerate(configs, 1):
    a = analyze_config(config, seeds, controls=controls, escape_steps=escape_steps, nudge=nudge,
                       grad_tol=grad_tol, curvature_tol=curvature_tol)
    analyses.append(a)
    write_config(os.path.join(directory, sweep.config_name(config)), a)
    out.write(f"[{i}/{len(configs)}] {config_lib.describe(config)}: {a.solved_trained}/"
              f"{a.seeds_trained} solved, {len(a.seeds)} nets analysed ({a.seconds:.1f} s)\n")
    out.flush()
  text = table(analyses)
  out.write("\n" + text + "\n")
  with root.as_default():
    tf.summary.text("analysis", text, step=0)
  root.close()
  if json_path:
    records = [r for a in analyses for r in a.records()]
    temporary = json_path + ".partial"
    with open(temporary, "w", encoding="utf-8") as f:
      json.dump({"grad_tol": grad_tol, "curvature_tol": curvature_tol, "nets": records}, f)
    os.replace(temporary, json_path)  # never a half-written file under the name asked for
    out.write(f"per-net records: {json_path}\n")
  out.write(f"{rundir.open_command(directory)}\n"
            "  (the analysis is in the Text, HParams and Images dashboards)\n")
  out.flush()
  return analyses, directory


# ---------------------------------------------------------------------------------------------
# The command line.


def define_flags():
  """The sweep's grid flags (from `config.sweep_settings()`, as `sweep.define_flags`) and ours."""
  f = types.SimpleNamespace()
  defaults = config_lib.Config()
  for name, kind in config_lib.sweep_settings().items():
    help_text = config_lib.FIELDS[name].metadata["help"]
    if kind == "hidden":
      setattr(f, name, flags.DEFINE_multi_string(
          "hidden", [], "Hidden widths of nn and deep, one shape per flag, e.g. --hidden=2 "
          "--hidden=3. Not given: each architecture's own."))
    elif kind == "one":
      setattr(f, name, flags.DEFINE_integer(name, getattr(defaults, name),
                                            f"The same for every network. {help_text}"))
    else:
      default = ["nn"] if name == "arch" else sweep._list_default(name)  # pylint: disable=protected-access
      setattr(f, name, flags.DEFINE_list(name, default, f"Comma-separated list. {help_text}"))
  f.seeds = flags.DEFINE_string("seeds", "0-99", "Seeds, e.g. 0-999 or 0-9,42.")
  f.logdir = flags.DEFINE_string("logdir", "logs", "Directory that holds analysis directories.")
  f.analysis_name = flags.DEFINE_string(
      "analysis_name", None, "Name of this analysis' directory inside --logdir. Default: "
      "'analysis-', a timestamp and a random suffix. Never overwritten.")
  f.controls = flags.DEFINE_integer("controls", 10, "Solved nets analysed per configuration "
                                    "as controls (the first ones by seed); >= 0.")
  f.escape_steps = flags.DEFINE_integer(
      "escape_steps", None, "Steps of the escape runs; default 100 x --steps.")
  f.nudge = flags.DEFINE_float("nudge", 0.1, "Standard deviation of the random nudge added to "
                               "each weight before the nudged escape run; > 0.")
  f.grad_tol = flags.DEFINE_float("grad_tol", GRAD_TOL, "Gradient norm above which an "
                                  "unsolved net is 'descending'; > 0.")
  f.curvature_tol = flags.DEFINE_float("curvature_tol", CURVATURE_TOL, "|Hessian eigenvalue| "
                                       "up to which a curvature counts as zero; > 0.")
  f.json = flags.DEFINE_string("json", None, "Write every analysed net's record to this file.")
  return f


def _grid_from_flags():
  values, hidden = sweep.grid_values(_FLAGS)
  if _FLAGS.steps.value is None or _FLAGS.steps.value <= 0:
    raise ValueError(f"--steps expects an integer > 0; received {_FLAGS.steps.value}.")
  return sweep.grid(values, hidden=hidden, steps=_FLAGS.steps.value), sweep.parse_seeds(
      _FLAGS.seeds.value)


def _check_own_flags():
  if _FLAGS.controls.value < 0:
    raise ValueError(f"--controls expects an integer >= 0; received {_FLAGS.controls.value}.")
  if _FLAGS.escape_steps.value is not None and _FLAGS.escape_steps.value <= 0:
    raise ValueError(f"--escape_steps expects an integer > 0; received "
                     f"{_FLAGS.escape_steps.value}.")
  for name in ("nudge", "grad_tol", "curvature_tol"):
    value = getattr(_FLAGS, name).value
    if not (math.isfinite(value) and value > 0):
      raise ValueError(f"--{name} expects a finite number > 0; received {value!r}.")
  path = _FLAGS.json.value
  if path is not None:
    parent = os.path.dirname(os.path.abspath(path))
    if not path or os.path.isdir(path) or not os.path.isdir(parent):
      raise ValueError(f"--json expects a file path in an existing directory; received {path!r}.")


def main(argv):
  del argv
  try:
    configs, seeds = _grid_from_flags()
    _check_own_flags()
    sweep.check_logdir(_FLAGS.logdir.value)
    name = _FLAGS.analysis_name.value
    if name is not None:
      config_lib.check_run_name(name)
      if os.path.lexists(os.path.join(_FLAGS.logdir.value, name)):
        raise FileExistsError(os.path.join(_FLAGS.logdir.value, name))
  except ValueError as e:
    cli.fail(PROG, str(e).replace("--run_name", "--analysis_name"))
  except FileExistsError as e:
    cli.fail(PROG, f"analysis directory {str(e)!r} exists already; choose another "
             "--analysis_name (expected a new name).")
  logging.set_verbosity(logging.WARNING)
  sweep.start_tensorflow(1, "none")  # quietly, as the sweep: one device, no strategy
  lines = [f"--{n}={','.join(v) if isinstance(v, list) else v}" for n, v in
           ((n, getattr(_FLAGS, n).value) for n in config_lib.sweep_settings() if n != "hidden")]
  lines += [f"--hidden={h}" for h in _FLAGS.hidden.value]
  for n in ("seeds", "controls", "escape_steps", "nudge", "grad_tol", "curvature_tol"):
    if getattr(_FLAGS, n).value is not None:
      lines.append(f"--{n}={getattr(_FLAGS, n).value}")
  try:
    run(configs, seeds, logdir=_FLAGS.logdir.value, name=_FLAGS.analysis_name.value,
        controls=_FLAGS.controls.value, escape_steps=_FLAGS.escape_steps.value,
        nudge=_FLAGS.nudge.value, grad_tol=_FLAGS.grad_tol.value,
        curvature_tol=_FLAGS.curvature_tol.value, json_path=_FLAGS.json.value,
        flag_lines=lines)
  except FileExistsError as e:
    cli.fail(PROG, f"analysis directory {str(e)!r} exists already (expected a new name).")


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(main, flags_parser=cli.flags_parser(PROG))
