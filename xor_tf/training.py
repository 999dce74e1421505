"""The engine of a single run: the compiled loop that runs the lesson's train step fast.

The train step itself — forward pass, loss, gradients, optimizer update — and what a logging
step records are the lesson, in `xor_tf/step.py`; this module only runs them.
`TrainLoop.train_chunk` is the one `@tf.function` a run calls: for each logging step of the
chunk it calls an XLA-compiled while-loop that runs `train_step` up to that step, carrying
weights and optimizer state as loop values, while on the other core a second compiled function
records the state it set off from and its summaries are written and flushed. After the chunk
the weights are assigned back to their variables once. It takes tensors only, so it traces
once per run.
"""

import contextlib
import dataclasses
import logging
import math
import os
import time

import numpy as np
import tensorflow as tf

from xor_tf import data
from xor_tf import models
from xor_tf import optim
from xor_tf import pictures as pictures_lib
from xor_tf import step as step_lib
from xor_tf import summaries
from xor_tf import tags
from xor_tf.losses import compute_loss



class _OncePerLoopRetracing(logging.Filter):
  """Drops TensorFlow's "N of the last M calls triggered retracing" warning for TrainLoop.

  TensorFlow counts traces of a method across all instances, so a process that builds many
  loops (a seed census, the tests) hears it although each loop traces once, as a test checks.
  """

  def filter(self, record):
    return "TrainLoop.train_chunk" not in record.getMessage()


tf.get_logger().addFilter(_OncePerLoopRetracing())

# A chunk holds up to this many logging steps, and about this many training steps, so the
# cost of a Python call (~1 ms) is spread thin while progress and interrupts stay prompt.
MAX_LOGS_PER_CHUNK = 64
STEPS_PER_CHUNK = 5000
# However far apart the logging steps are, a call trains at most this many steps (~5-40 ms for
# the built-in shapes), so a Ctrl-C is seen soon and a call's overhead stays small.
MAX_STEPS_PER_CALL = 10_000


def count_sign_changes(state, new_params):
  """Adds one to each weight whose update this step went the other way from its last one."""
  went_up, changes = {}, {}
  for k, new in new_params.items():
    went_up[k] = new > state["params"][k]
    changed = (went_up[k] != state["went_up"][k]) & (state["step"] > 0)
    changes[k] = state["sign_changes"][k] + tf.cast(changed, tf.float32)
  return {"went_up": went_up, "sign_changes": changes}


class TrainLoop(tf.Module):
  """A network, its optimizer, the step counter and the summary writer, and the compiled loop."""

  def __init__(self, net, optimizer, *, loss, writer=None, logs_per_chunk=1,
               gradients=step_lib.tape_gradients, pictures=True, diagnostics=False):
    super().__init__(name="train_loop")
    self.net = net
    self.gradients = gradients
    self.optimizer = optimizer
    self.loss = loss
    self.writer = writer
    self.logs_per_chunk = logs_per_chunk
    self.step = tf.Variable(0, dtype=tf.int64, name="step")
    # The last step whose summaries this loop wrote, set in the graph as it writes them.
    self.last_written = tf.Variable(-1, dtype=tf.int64, trainable=False, name="last_written")
    # Everything the loop carries, as variables: what a checkpoint saves and a resume restores.
    self.carried = {"params": net.params, "slots": optimizer.slots, "step": self.step}
    self.diagnostics = diagnostics
    if diagnostics:
      # Notebook 002's diagnostic: did each weight's last update go up, and how often has the
      # direction changed since the last logging step.
      self.carried["went_up"] = {k: tf.Variable(tf.zeros(v.shape, tf.bool), name=f"went_up_{i}")
                                 for i, (k, v) in enumerate(net.params.items())}
      self.carried["sign_changes"] = {k: tf.Variable(tf.zeros(v.shape), name=f"changes_{i}")
                                      for i, (k, v) in enumerate(net.params.items())}
    self.x = tf.constant(data.INPUTS)
    self.y = tf.constant(data.LABELS)
    loss_fn = lambda logits, y: compute_loss(logits, y, loss)

    def observe(state):
      record = step_lib.observe(net.apply, state["params"], self.x, self.y, loss_fn)
      if diagnostics:
        _, grads = gradients(net, state["params"], self.x, self.y, loss)
        record.update(summaries.diagnose(grads, state["sign_changes"]))
      return record

    self._observe = observe
    self.pictures = pictures
    if pictures:
      self._draw = lambda params: summaries.draw(net.apply_columns, params,
                                                 net.activation.picture_range)
    # The tags and shapes of what a logging step writes, from a trace (no values computed).
    spec = tf.nest.map_structure(tf.TensorSpec.from_tensor, self._read())
    example = tf.function(observe, autograph=False).get_concrete_function(spec).structured_outputs
    self.record_tags = list(example)
    if pictures:
      # The compiled `_pictures` itself, traced once here: train_chunk's trace reuses it.
      size = sum(v.shape.num_elements() for v in tf.nest.flatten(
          {k: v for k, v in self.carried.items() if k != "step"}))
      images, _ = self._pictures.get_concrete_function(
          tf.TensorSpec([size], tf.float32), tf.TensorSpec([4], tf.int64)).structured_outputs
      example.update(images)
    self.picture_tags = [tag for tag in example if tags.is_picture(tag)]
    self.metadata = {tag: summaries.metadata_for(tag, value) for tag, value in example.items()}
    # Every tag a logging step may write, in order; the pictures and the truth table only at
    # the picture steps.
    self.tags = self.record_tags + self.picture_tags + ([tags.TRUTH_TABLE] if pictures else [])
    self.is_picture = [tag not in self.record_tags for tag in self.tags]

  def step_graph(self):
    """The graph of one `train_step` (forward, loss, gradients, update), for the Graphs dashboard.

    The compiled loop around it is mostly XLA plumbing; one step is what a learner reads. Its
    inputs are named after the state they carry (params/layer1/kernel, slots/..., step) and
    the four points x and labels y; inside train_step/ are forward/<layer>, loss,
    gradients/<layer>/<kernel or bias>, update/<layer>/<kernel or bias> and accuracy.
    """
    def one_step(state):
      x = tf.constant(data.INPUTS, name="x")
      y = tf.constant(data.LABELS, name="y")
      with tf.name_scope("train_step"):
        return step_lib.train_step(self.net, self.optimizer, state, x, y, self.loss,
                                   self.gradients)
    def spec(value, path):  # each input named after its place in the state: params/layer1/kernel
      if isinstance(value, dict):
        return {k: spec(v, f"{path}/{k}" if path else k) for k, v in value.items()}
      return tf.TensorSpec(value.shape, value.dtype, name=path)
    return tf.function(one_step, autograph=False).get_concrete_function(
        spec(self._read(), "")).graph

  def checkpoint(self):
    return tf.train.Checkpoint(**self.carried)

  def _read(self):
    return tf.nest.map_structure(tf.convert_to_tensor, self.carried)

  def _assign(self, state):
    tf.nest.map_structure(lambda var, value: var.assign(value), self.carried, state)

  def _pack(self, state):
    """Everything the loop carries but the step, as one float32 vector, and the step.

    Each tensor passed around the graph-level loop, and into and out of the compiled function,
    costs a handful of graph ops per logging step; one vector costs the same as one weight.
    """
    leaves = tf.nest.flatten({k: v for k, v in state.items() if k != "step"})
    return (tf.concat([tf.reshape(tf.cast(v, tf.float32), [-1]) for v in leaves], axis=0),
            state["step"])

  def _unpack(self, packed, step):
    """The state dict that `_pack` made `packed` and `step` of (bools were stored as 0 or 1)."""
    template = {k: v for k, v in self.carried.items() if k != "step"}
    leaves = tf.nest.flatten(template)
    parts = tf.split(packed, [v.shape.num_elements() for v in leaves])
    values = [tf.cast(tf.reshape(part, v.shape), v.dtype) for part, v in zip(parts, leaves)]
    return dict(tf.nest.pack_sequence_as(template, values), step=step)

  # autograph=False here and below: the control flow is written with tf.while_loop and tf.cond,
  # and skipping AutoGraph's conversion of every function they call saves seconds of tracing.
  # The graph-level loop below carries few values and runs few graph ops per logging step:
  # TensorFlow's executor hands every op it has not yet timed as cheap (~100 runs) to another
  # thread, and on 2 cores each such hand-off costs more than the op. So the compiled functions
  # take the whole per-chunk arrays and the loop counters and do the indexing themselves.

  @tf.function(jit_compile=True, autograph=False)
  def _advance(self, packed, counters, log_steps, metrics, start_logs):
    """Trains from the state (packed, counters[1]) up to the next logging step.

    Only training and the loss: what a logging step records is computed by `_record` on the
    other core, meanwhile.

    Args:
      packed: the state but the step (`_pack`).
      counters: int64 [4]: k, the index of the logging step to reach in `log_steps`; the step;
        the first step whose loss was not finite, or -1; how many logging steps the chunk has
        (0: reach none, stay at the step).
      log_steps: int64 [logs_per_chunk], the chunk's logging steps.
      metrics: float32 [logs_per_chunk, 2], loss and accuracy at each logging step reached.
      start_logs: bool, whether the chunk set off from a logging step (a later iteration
        always does).

    Returns:
      (packed, counters for the next logging step, metrics with row k set, whether to go on).
    """
    k, step, bad, num_logs = tf.unstack(counters)
    until = tf.where(num_logs > 0, tf.gather(log_steps, k), step)

    def one_step(state, bad):
      new_state, metrics = step_lib.train_step(self.net, self.optimizer, state, self.x, self.y,
                                               self.loss, self.gradients)
      loss = metrics[tags.LOSS]
      if self.diagnostics:
        new_state.update(count_sign_changes(state, new_state["params"]))
      bad = tf.where(tf.math.is_finite(loss), bad, state["step"])
      return new_state, bad

    state = self._unpack(packed, step)
    if self.diagnostics:  # the count restarts at each logging step, once `_record` has it
      at_log = (k > 0) | start_logs
      state["sign_changes"] = tf.nest.map_structure(
          lambda c: tf.where(at_log, tf.zeros_like(c), c), state["sign_changes"])
    state, bad = tf.while_loop(lambda s, b: (s["step"] < until) & (b < 0), one_step,
                               [state, bad])
    logits, activations = self.net.apply(state["params"], self.x)
    values = tf.stack([compute_loss(logits, self.y, self.loss),
                       summaries.accuracy(activations[tags.OUTPUT], self.y)])
    # A logging step whose loss is not finite is neither recorded nor written.
    bad = tf.where((bad < 0) & ~tf.math.is_finite(values[0]), state["step"], bad)
    metrics = tf.tensor_scatter_nd_update(metrics, [[k]], values[None])
    packed, step = self._pack(state)
    return packed, tf.stack([k + 1, step, bad, num_logs]), metrics, (k + 1 < num_logs) & (bad < 0)

  @tf.function(jit_compile=True, autograph=False)
  def _record(self, packed, counters, writes, draws, written_through):
    """What the state (packed, counters[1]) logs, but its pictures, and which tags to write.

    Args:
      packed, counters: the state and counters `_advance` sets off from.
      writes, draws: bool [logs_per_chunk + 1]: whether to write the summaries of the state
        each iteration k sets off from, and whether to draw its pictures.
      written_through: int64 [len(self.tags)], the last step each tag was written at before
        this run (-1 for a new run).

    Returns:
      ({tag: tensor} of self.record_tags; bool [len(self.tags)] whether to write each tag:
      not a picture that is not drawn, nor a tag this run's event files hold at this step or a
      later one, nor any if the loss is not finite or writes[k] is False; the step).
    """
    k, step = counters[0], counters[1]
    write, draw = tf.gather(writes, k), tf.gather(draws, k)
    record = self._observe(self._unpack(packed, step))
    wanted = (write & (step > written_through) & (draw | ~tf.constant(self.is_picture))
              & tf.math.is_finite(record[tags.LOSS]))
    return record, wanted, step

  @tf.function(jit_compile=True, autograph=False)
  def _pictures(self, packed, counters):
    """The pictures of the state (packed, counters[1]) as uint8 RGB {tag: [1, H, W, 3]}, and
    its output probabilities [4] for the truth table.

    A compiled function of its own, called only at the steps that draw, beside `_record` (both
    cores may be busy with `_advance` and it): compiled into `_record` behind a condition, it
    made every 2-2-1 logging step ~50 µs slower, drawn or not.
    """
    params = self._unpack(packed, counters[1])["params"]
    images = {tag: pictures_lib.rgb(image) for tag, image in self._draw(params).items()}
    probabilities = self.net.apply(params, self.x)[1][tags.OUTPUT]
    return images, tf.reshape(probabilities, [-1])

  @tf.function(autograph=False)
  def train_chunk(self, log_steps, num_logs, draw, entry, written_through):
    """Trains to each of the first `num_logs` logging steps, writing each one's summaries.

    A graph-level loop calls the compiled `_advance` once per logging step. Meanwhile, on the
    other core, `_record` computes what the state it started from records, `_write` writes it
    (one `tf.summary.write` per tag) and flushes it, all before the next `_advance` begins: a
    killed run loses at most the summaries of its last logging step. Those of the state the
    chunk ends at are written by the next call.

    Args:
      log_steps: int64 [logs_per_chunk], increasing logging steps; entries past num_logs are
        padding.
      num_logs: int32 scalar, how many entries of log_steps are real; with 0 the call only
        writes the summaries of the current state.
      draw: bool [logs_per_chunk]: whether to draw pictures at each logging step.
      entry: bool [3]: whether to write the summaries of the current state (a logging step not
        yet written), whether to draw its pictures, and whether it is a logging step.
      written_through: int64 [len(self.tags)]: the last step each tag was written at before
        this run (-1 for a new run); a resumed run writes no tag at or before that step.

    Returns:
      {'metrics': float32 [logs_per_chunk, 2] loss and accuracy, 'recorded': how many are real,
       'nonfinite_step': the step whose loss was not finite, or -1}.
    """
    draws = tf.concat([entry[1:2], draw], axis=0)  # at the state each iteration starts from
    writes = tf.concat([entry[:1], tf.ones_like(draw)], axis=0)
    arrays = (writes, draws, written_through)

    def until_log(go, counters, packed, metrics, written):
      with tf.control_dependencies([written]):  # the summaries before this state's are on disk
        new_packed, new_counters, metrics, go = self._advance(packed, counters, log_steps,
                                                              metrics, entry[2])
      written = self._write(packed, counters, *arrays, written)
      return go, new_counters, new_packed, metrics, written

    # The writer is the default for the whole call, not per write: leaving `as_default` flushes
    # it, one graph op that each logging step would otherwise run twice.
    with (self.writer.as_default() if self.writer is not None else contextlib.nullcontext()):
      packed, step = self._pack(self._read())
      counters = tf.stack([tf.constant(0, tf.int64), step, tf.constant(-1, tf.int64),
                           tf.cast(num_logs, tf.int64)])
      _, counters, packed, metrics, written = tf.while_loop(
          lambda go, *rest: go, until_log,
          [num_logs > 0, counters, packed, tf.zeros([self.logs_per_chunk, 2]),
           tf.constant(-1, tf.int64)])
      k, step, bad = counters[0], counters[1], counters[2]
      self._assign(self._unpack(packed, step))
      written = tf.cond(num_logs > 0, lambda: written,
                        lambda: self._write(packed, counters, *arrays, written))
    # Set once per call, in the graph: a Ctrl-C reaches Python only between calls.
    self.last_written.assign(tf.where(written >= 0, written, self.last_written))
    return {"metrics": metrics, "recorded": tf.cast(tf.where(bad < 0, k, k - 1), tf.int32),
            "nonfinite_step": bad}

  def _write(self, packed, counters, writes, draws, written_through, last):
    """Writes the wanted summaries of a state, one `tf.summary.write` per tag, and flushes them.

    Called with the writer as the default. Returns the state's step if it wrote any, else
    `last`.
    """
    if self.writer is None:
      return last
    record, wanted, step = self._record(packed, counters, writes, draws, written_through)
    n = len(self.record_tags)

    def write_record():
      written = []
      for i, tag in enumerate(self.record_tags):
        with tf.summary.record_if(wanted[i]):
          written.append(tf.summary.write(tag, record[tag], step=step,
                                          metadata=self.metadata[tag]))
      if self.pictures:  # drawn meanwhile, only where wanted
        written.append(tf.cond(tf.reduce_any(wanted[n:]),
                               lambda: self._write_pictures(packed, counters, wanted[n:], step),
                               lambda: tf.constant(False)))
      with tf.control_dependencies(written):
        flushed = self.writer.flush()  # what was logged survives a kill
      with tf.control_dependencies([flushed]):
        return tf.identity(step)

    return tf.cond(tf.reduce_any(wanted), write_record, lambda: last)

  def _write_pictures(self, packed, counters, wanted, step):
    """Writes the pictures (PNG, outside XLA) and the truth table of a state, where wanted."""
    images, probabilities = self._pictures(packed, counters)
    written = []
    for i, tag in enumerate(self.picture_tags):
      with tf.summary.record_if(wanted[i]):
        written.append(tf.summary.write(tag, summaries.image_value(images[tag]), step=step,
                                        metadata=self.metadata[tag]))
    with tf.summary.record_if(wanted[-1]):
      written.append(summaries.write_truth_table(probabilities, step))
    return tf.reduce_all(tf.stack(written))


class Diverged(Exception):
  """The loss stopped being finite; `step` is the first step whose loss was NaN or infinite."""

  def __init__(self, step):
    super().__init__(step)
    self.step = step


def logging_steps(total_steps, log_every):
  """Steps that are logged: 0, every log_every-th step, and the last (a list; `train` makes
  its chunks one at a time instead, so memory never grows with the number of steps)."""
  steps = list(range(0, total_steps + 1, log_every))
  if steps[-1] != total_steps:
    steps.append(total_steps)
  return steps


# The default picture steps (--image_every unset): 0 and m * 10**k for these m and k >= 1, so
# 0, 10, 20, 30, 50, 70, 100, 200, ...: dense while the boundary forms, sparse once it has.
PICTURE_MANTISSAS = (1, 2, 3, 5, 7)


def _log_spaced(step):
  if step == 0:
    return True
  power = 0
  while step % 10 == 0:
    step //= 10
    power += 1
  return power >= 1 and step in PICTURE_MANTISSAS


def _next_log_spaced(at):
  """The first default picture step after `at`."""
  scale = 10
  while True:
    for m in PICTURE_MANTISSAS:
      if m * scale > at:
        return m * scale
    scale *= 10


def is_picture_step(step, config):
  """Whether `step` draws pictures: the last step and, with --image_every unset, 0, 10, 20, 30,
  50, 70, 100, 200, ... (`PICTURE_MANTISSAS`); with --image_every=N the multiples of N; never
  with 0. Every picture step is a logging step."""
  every = config.image_every
  if every == 0 or step > config.steps:
    return False
  if step == config.steps:
    return True
  return _log_spaced(step) if every is None else step % every == 0


def next_picture_step(at, config):
  """The first picture step after `at` (config.steps at the latest), or None if there is none."""
  every = config.image_every
  if every == 0 or at >= config.steps:
    return None
  following = _next_log_spaced(at) if every is None else (at // every + 1) * every
  return min(following, config.steps)


def is_logging_step(step, config):
  """Whether `step` writes summaries: 0, the multiples of --log_every, the picture steps and
  the last."""
  return (step % config.log_every == 0 or step == config.steps
          or is_picture_step(step, config))


def next_logging_step(at, config):
  """The first logging step after `at` (`is_logging_step`); config.steps at the latest."""
  candidates = [(at // config.log_every + 1) * config.log_every, config.steps]
  picture = next_picture_step(at, config)
  if picture is not None:
    candidates.append(picture)
  return min(candidates)


def logs_per_chunk(log_every):
  return max(1, min(MAX_LOGS_PER_CHUNK, math.ceil(STEPS_PER_CHUNK / log_every)))


@dataclasses.dataclass
class Result:
  """What a run ends with: the final truth table, the logged curve, and the training speed."""

  probabilities: np.ndarray  # [4] output probability for each XOR input
  loss: float
  accuracy: float
  history: dict  # {'step': [...], 'loss': [...], 'accuracy': [...]} at every logging step
  train_seconds: float  # time in the compiled loop after the first (compiling) call
  trained_steps: int  # steps timed in train_seconds
  trace_count: int
  step: int = 0  # the step training stopped at (config.steps unless interrupted)
  interrupted: bool = False
  signal: int = None  # the signal that interrupted the run, set by xor_tf.experiment

  @property
  def labels(self):
    return (self.probabilities > 0.5).astype(int)

  @property
  def us_per_step(self):
    return 1e6 * self.train_seconds / max(1, self.trained_steps)


def create(config, writer=None, **options):
  """Builds the network, optimizer and loop that `config` describes (the seed decides all weights).

  `options` go to TrainLoop (e.g. per_tag_writes, for the benchmark).
  """
  net = models.build(config)
  optimizer = optim.Optimizer(config.optimizer, config.hyperparameters, net.params)
  return TrainLoop(net, optimizer, loss=config.loss, writer=writer, **options,
                   logs_per_chunk=logs_per_chunk(config.log_every),
                   gradients=step_lib.GRADIENTS[config.gradients], pictures=config.image_every != 0,
                   diagnostics=config.diagnostics)


def next_chunk(at, config, size, checkpoint_every=None, max_steps=MAX_STEPS_PER_CALL):
  """The steps a chunk setting off from step `at` stops at: up to `size` logging steps, then
  the step it ends at if that is none.

  A chunk ends at the first multiple of `checkpoint_every` and after at most `max_steps`
  training steps, so a Ctrl-C is seen within a fraction of a second however large --log_every
  is, and a checkpoint lands on each multiple whether or not it is a logging step.
  """
  end = min(config.steps, at + max_steps)
  if checkpoint_every:
    end = min(end, (at // checkpoint_every + 1) * checkpoint_every)
  stops = []
  step = next_logging_step(at, config)
  while step < end and len(stops) < size:
    stops.append(step)
    step = next_logging_step(step, config)
  if len(stops) < size:
    stops.append(end)
  return stops


def _save(checkpoints, step):
  """Saves a checkpoint; if that fails or is interrupted, removes what it left half-written."""
  try:
    checkpoints.save(checkpoint_number=step)
  except BaseException:
    directory = checkpoints.directory
    latest = tf.train.latest_checkpoint(directory) or ""
    for path in tf.io.gfile.glob(os.path.join(directory, f"*-{step}_temp*")):
      with contextlib.suppress(Exception):
        tf.io.gfile.rmtree(path)
    if not latest.endswith(f"-{step}"):  # written, but the index of checkpoints never named it
      for path in tf.io.gfile.glob(os.path.join(directory, f"*-{step}.*")):
        with contextlib.suppress(Exception):
          tf.io.gfile.remove(path)
    raise


def train(config, *, writer=None, on_log=None, loop=None, checkpoints=None,
          checkpoint_every=None, should_stop=None, written_through=None, check_written=None):
  """Trains the network of `config` up to config.steps steps.

  Args:
    config: a checked `xor_tf.config.Config`.
    writer: a tf.summary writer for the run's summaries, or None to write none.
    on_log: called as on_log(step, loss, accuracy) for each logging step, for progress display.
    loop: a `TrainLoop` to continue (e.g. restored from a checkpoint); default: a new one.
    checkpoints: a tf.train.CheckpointManager of `loop.checkpoint()`; saved every
      `checkpoint_every` steps, at the end, and when stopped.
    should_stop: polled between chunks; when it returns True training stops there.
    written_through: {tag: step} of summaries already in the run's event files.
    check_written: called after each call with the last step whose summaries were written
      (-1: none yet); it raises to stop the run, e.g. when they did not reach the disk.

  Returns:
    A `Result`.

  Raises:
    Diverged: if the loss became non-finite; the last checkpoint saved is the last finite one.
  """
  loop = loop or create(config, writer)
  start = int(loop.step.numpy())
  size = loop.logs_per_chunk
  history = {"step": [], tags.LOSS: [], tags.ACCURACY: []}
  train_seconds, timed_steps, interrupted = 0.0, 0, False
  through = tf.constant([(written_through or {}).get(tag, -1) for tag in loop.tags], tf.int64)

  def draws(step):
    return is_picture_step(step, config)

  def entry(at):
    # Whether to write the summaries of the state a call starts from (a logging step not yet
    # written: a fresh run's first call writes step 0 and stays there), and to draw them.
    return tf.constant([is_logging_step(at, config) and int(loop.last_written.numpy()) != at,
                        draws(at), is_logging_step(at, config)])

  try:
    at, first = start, True
    # A fresh run's first call logs step 0 alone and pays for tracing and compiling; the rest
    # are timed.
    while (first and start == 0) or at < config.steps:
      part = [0] if first and start == 0 else next_chunk(at, config, size, checkpoint_every)
      padded = part + [part[-1]] * (size - len(part))
      before = time.perf_counter()
      out = loop.train_chunk(tf.constant(padded, tf.int64), tf.constant(len(part), tf.int32),
                             tf.constant([draws(s) for s in padded]), entry(at), through)
      losses, accuracies = out["metrics"].numpy().T
      if not first:
        train_seconds += time.perf_counter() - before
        timed_steps += part[-1] - at
      first = False
      if check_written is not None:
        check_written(int(loop.last_written.numpy()))
      for k in range(int(out["recorded"])):
        if not is_logging_step(part[k], config):  # a chunk's end between two logging steps
          continue
        for key, value in (("step", part[k]), (tags.LOSS, float(losses[k])),
                           (tags.ACCURACY, float(accuracies[k]))):
          history[key].append(value)
        if on_log:
          on_log(part[k], float(losses[k]), float(accuracies[k]))
      if int(out["nonfinite_step"]) >= 0:
        raise Diverged(int(out["nonfinite_step"]))
      at = int(loop.step.numpy())
      last = at == config.steps
      interrupted = not last and should_stop is not None and should_stop()
      # Also at step 0 when stopped there, so the printed --resume command always works.
      if checkpoints is not None and (at > 0 or interrupted) and (last or interrupted or (
          checkpoint_every and at % checkpoint_every == 0)):
        _save(checkpoints, at)
      if interrupted:
        break
  finally:  # the last logging step's summaries, also when stopped (`_record` skips a NaN one)
    before = time.perf_counter()
    at = int(loop.step.numpy())
    loop.train_chunk(tf.zeros([size], tf.int64), tf.constant(0), tf.zeros([size], tf.bool),
                     entry(at), through)
    train_seconds += time.perf_counter() - before
  if writer is not None:
    writer.flush()
  _, activations = loop.net(loop.x)
  return Result(
      probabilities=activations[tags.OUTPUT].numpy().reshape(-1),
      loss=history[tags.LOSS][-1] if history[tags.LOSS] else float("nan"),
      accuracy=history[tags.ACCURACY][-1] if history[tags.ACCURACY] else float("nan"),
      history=history,
      train_seconds=train_seconds,
      trained_steps=timed_steps,
      trace_count=loop.train_chunk.experimental_get_tracing_count(),
      step=int(loop.step.numpy()),
      interrupted=interrupted,
  )
