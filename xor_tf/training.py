"""The shared train step and the compiled loop that runs it for every architecture.

`train_step` is one update of any network: forward pass, loss, gradients, optimizer update.
`TrainLoop.train_chunk` is the one `@tf.function` a run calls: an XLA-compiled while-loop
runs `train_step` up to each logging step of the chunk, carrying weights and optimizer state
as loop values, and records what that step logs; after the loop the weights are assigned
back to their variables once. The records are written as summaries by the next call, while
it trains the next chunk, so writing and training overlap on two cores. It takes tensors
only, so it traces once per run.
"""

import dataclasses
import logging
import math
import time

import numpy as np
import tensorflow as tf

from xor_tf import backprop
from xor_tf import data
from xor_tf import models
from xor_tf import optim
from xor_tf import pictures as pictures_lib
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
# per-call cost (~0.3 ms) is spread thin while progress and interrupts stay prompt.
MAX_LOGS_PER_CHUNK = 64
STEPS_PER_CHUNK = 5000


def tape_gradients(net, params, x, y, loss_kind):
  """Loss and d(loss)/d(params) by GradientTape: (loss, {name: gradient})."""
  with tf.GradientTape() as tape:
    tape.watch(params)
    loss = compute_loss(net.apply(params, x)[0], y, loss_kind)
  return loss, tape.gradient(loss, params)


def train_step(net, optimizer, state, x, y, loss_kind, gradients=tape_gradients):
  """One training step on a state dict {'params', 'slots', 'step'} of tensors.

  `gradients(net, params, x, y, loss_kind) -> (loss, grads)` computes the gradients.

  Returns:
    (next state, the loss before this step's update).
  """
  loss, grads = gradients(net, state["params"], x, y, loss_kind)
  params, slots = optimizer.update(state["params"], grads, state["slots"], state["step"])
  return dict(state, params=params, slots=slots, step=state["step"] + 1), loss


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
               gradients=tape_gradients, pictures=True, diagnostics=False):
    super().__init__(name="train_loop")
    self.net = net
    self.gradients = gradients
    self.optimizer = optimizer
    self.loss = loss
    self.writer = writer
    self.logs_per_chunk = logs_per_chunk
    self.step = tf.Variable(0, dtype=tf.int64, name="step")
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
      record = summaries.observe(net.apply, state["params"], self.x, self.y, loss_fn)
      if diagnostics:
        _, grads = gradients(net, state["params"], self.x, self.y, loss)
        record.update(summaries.diagnose(grads, state["sign_changes"]))
      return record

    self._observe = observe
    example = self._observe(self._read())
    self.pictures = pictures
    if pictures:
      self.grid = pictures_lib.grid_points()
      self._draw = lambda params: summaries.draw(net.apply, params, self.grid)
      drawn = self._draw(self._read()["params"])
      self.blank = {tag: tf.zeros_like(image) for tag, image in drawn.items()}
      example.update(drawn)
    self.tags = list(example)
    self.metadata = {tag: summaries.metadata_for(tag, value) for tag, value in example.items()}
    self.dtypes = {tag: value.dtype for tag, value in example.items()}
    self.shapes = {tag: value.shape for tag, value in example.items()}

  def step_graph(self):
    """The graph of one `train_step` (forward, loss, gradients, update), for the Graphs dashboard.

    The compiled loop around it is mostly XLA plumbing; one step is what a learner reads.
    """
    def one_step(state):
      with tf.name_scope("train_step"):
        return train_step(self.net, self.optimizer, state, self.x, self.y, self.loss,
                          self.gradients)
    spec = tf.nest.map_structure(tf.TensorSpec.from_tensor, self._read())
    return tf.function(one_step, autograph=False).get_concrete_function(spec).graph

  def checkpoint(self):
    return tf.train.Checkpoint(**self.carried)

  def _read(self):
    return tf.nest.map_structure(tf.convert_to_tensor, self.carried)

  def _assign(self, state):
    tf.nest.map_structure(lambda var, value: var.assign(value), self.carried, state)

  # autograph=False here and below: the control flow is written with tf.while_loop and tf.cond,
  # and skipping AutoGraph's conversion of every function they call saves seconds of tracing.
  @tf.function(jit_compile=True, autograph=False)
  def _advance(self, state, log_steps, num_logs, draw):
    """Trains up to each of the first `num_logs` of `log_steps`, recording each logging step.

    Pictures are drawn only at the logging steps where `draw` is True (blank elsewhere).

    Stops early at the first step whose loss is not finite.

    Returns:
      (state, records {tag: [logs_per_chunk, ...]}, how many records are real, the step whose
      loss was not finite or -1).
    """
    records = {tag: tf.TensorArray(dtype, size=self.logs_per_chunk)
               for tag, dtype in self.dtypes.items()}

    def step(state, bad):
      new_state, loss = train_step(self.net, self.optimizer, state, self.x, self.y, self.loss,
                                   self.gradients)
      if self.diagnostics:
        new_state.update(count_sign_changes(state, new_state["params"]))
      bad = tf.where(tf.math.is_finite(loss), bad, state["step"])
      return new_state, bad

    def until_log(k, state, records, bad):
      state, bad = tf.while_loop(lambda s, b: (s["step"] < log_steps[k]) & (b < 0), step,
                                 [state, bad])
      record = self._observe(state)
      if self.diagnostics:  # the count restarts at each logging step
        state = dict(state, sign_changes=tf.nest.map_structure(tf.zeros_like,
                                                               state["sign_changes"]))
      if self.pictures:
        params = state["params"]
        record.update(tf.cond(draw[k], lambda: self._draw(params), lambda: self.blank))
      records = {tag: ta.write(k, record[tag]) for tag, ta in records.items()}
      return k + 1, state, records, bad

    k, state, records, bad = tf.while_loop(
        lambda k, s, r, b: (k < num_logs) & (b < 0), until_log,
        [tf.constant(0), state, records, tf.constant(-1, tf.int64)])
    num_recorded = tf.where(bad < 0, k, k - 1)  # the record at a non-finite step is dropped
    return state, {tag: ta.stack() for tag, ta in records.items()}, num_recorded, bad

  @tf.function(autograph=False)
  def train_chunk(self, log_steps, num_logs, draw, previous):
    """Writes the previous chunk's summaries while it trains this chunk, in one call.

    The two halves share no data, so TensorFlow runs the summary writing (the slow part at
    small log intervals) on one core while the compiled loop trains on the other.

    Args:
      log_steps: int64 [logs_per_chunk], increasing logging steps; entries past num_logs are
        padding.
      num_logs: int32 scalar, how many entries of log_steps are real (0: only write).
      draw: bool [logs_per_chunk]: whether to draw pictures at each logging step.
      previous: what the previous call returned, with its 'log_steps' and 'draw' added; its
        records are written now. `empty_chunk()` for the first call.

    Returns:
      {'records': {tag: [logs_per_chunk, ...]}, 'recorded': how many are real,
       'nonfinite_step': the step whose loss was not finite, or -1}.
    """
    self._write_chunk(previous, self._write_all)
    state, records, recorded, bad = self._advance(self._read(), log_steps, num_logs, draw)
    self._assign(state)
    return {"records": records, "recorded": recorded, "nonfinite_step": bad}

  @tf.function(autograph=False)
  def write_new(self, previous, written_through):
    """Writes a chunk's records like train_chunk, but no tag at a step it was written at before.

    Only a resumed run needs this, for its first chunk, which recomputes logging steps that
    its event files may already hold (all of them, or some tags of the last one).

    Args:
      previous: a chunk as train_chunk takes it.
      written_through: int64 [len(self.tags)]: the last step each tag was written at.
    """
    self._write_chunk(previous, lambda k, records, log_steps, draw: self._write_each(
        k, records, log_steps, draw, written_through))

  def _write_chunk(self, chunk, write):
    if self.writer is None:
      return
    with self.writer.as_default():
      tf.while_loop(lambda k: k < chunk["recorded"],
                    lambda k: write(k, chunk["records"], chunk["log_steps"], chunk["draw"]),
                    [tf.constant(0)])
      self.writer.flush()  # what was logged survives a kill

  def empty_chunk(self):
    """A `previous` for train_chunk's first call: nothing to write."""
    n = self.logs_per_chunk
    return {"records": {tag: tf.zeros([n, *self.shapes[tag]], self.dtypes[tag])
                        for tag in self.tags},
            "recorded": tf.constant(0), "nonfinite_step": tf.constant(-1, tf.int64),
            "log_steps": tf.zeros([n], tf.int64), "draw": tf.zeros([n], tf.bool)}

  def _write_all(self, k, records, log_steps, draw):
    """Writes the k-th record of a chunk; pictures only where they were drawn.

    One tf.cond for the pictures and none per tag: building a cond's branch graphs is most of
    what tracing the writes costs."""
    record = {tag: records[tag][k] for tag in self.tags}
    plain = {tag: v for tag, v in record.items() if not tags.is_picture(tag)}
    drawn = {tag: v for tag, v in record.items() if tags.is_picture(tag)}
    summaries.write(plain, log_steps[k], self.metadata)
    if drawn:
      tf.cond(draw[k], lambda: summaries.write(drawn, log_steps[k], self.metadata),
              lambda: tf.constant(False))
    return k + 1

  def _write_each(self, k, records, log_steps, draw, written_through):
    """As _write_all, but each tag only at steps after written_through of that tag."""
    for i, tag in enumerate(self.tags):
      wanted = log_steps[k] > written_through[i]
      if tags.is_picture(tag):
        wanted = wanted & draw[k]
      tf.cond(wanted,
              lambda tag=tag: summaries.write({tag: records[tag][k]}, log_steps[k],
                                              self.metadata),
              lambda: tf.constant(False))
    return k + 1


class Diverged(Exception):
  """The loss stopped being finite; `step` is the first step whose loss was NaN or infinite."""

  def __init__(self, step):
    super().__init__(step)
    self.step = step


def logging_steps(total_steps, log_every):
  """Steps that are logged: 0, every log_every-th step, and the last."""
  steps = list(range(0, total_steps + 1, log_every))
  if steps[-1] != total_steps:
    steps.append(total_steps)
  return steps


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


GRADIENTS = {"tape": tape_gradients, "manual": backprop.manual_gradients}


def create(config, writer=None):
  """Builds the network, optimizer and loop that `config` describes (the seed decides all weights)."""
  net = models.build(config)
  optimizer = optim.Optimizer(config.optimizer, config.learning_rate, net.params)
  return TrainLoop(net, optimizer, loss=config.loss, writer=writer,
                   logs_per_chunk=logs_per_chunk(config.log_every),
                   gradients=GRADIENTS[config.gradients], pictures=config.image_every > 0,
                   diagnostics=config.diagnostics)


def chunks(schedule, size, start, checkpoint_every=None):
  """Splits the logging steps after `start` into chunks of at most `size`, ending at checkpoints."""
  out, current = [], []
  for step in (s for s in schedule if s > start):
    current.append(step)
    if len(current) == size or (checkpoint_every and step % checkpoint_every == 0):
      out.append(current)
      current = []
  return out + ([current] if current else [])


def train(config, *, writer=None, on_log=None, loop=None, checkpoints=None,
          checkpoint_every=None, should_stop=None, written_through=None):
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

  Returns:
    A `Result`.

  Raises:
    Diverged: if the loss became non-finite; the last checkpoint saved is the last finite one.
  """
  loop = loop or create(config, writer)
  start = int(loop.step.numpy())
  schedule = logging_steps(config.steps, config.log_every)
  size = loop.logs_per_chunk
  # A fresh run's first call logs step 0 alone and pays for tracing and compiling; the rest
  # are timed.
  parts = ([[0]] if start == 0 else []) + chunks(schedule, size, start, checkpoint_every)
  through = [(written_through or {}).get(tag, -1) for tag in loop.tags]
  history = {"step": [], tags.LOSS: [], tags.ACCURACY: []}
  train_seconds, timed_steps, interrupted = 0.0, 0, False
  previous = loop.empty_chunk()
  nothing = (tf.zeros([size], tf.int64), tf.constant(0), tf.zeros([size], tf.bool))

  def writable(chunk):
    """The chunk to hand train_chunk; a chunk overlapping what a resumed run's event files
    hold is written here instead, tag by tag."""
    steps = chunk["log_steps"].numpy()[:int(chunk["recorded"])]
    if len(steps) and steps[0] <= max(through):
      loop.write_new(chunk, tf.constant(through, tf.int64))
      return loop.empty_chunk()
    return chunk

  try:
    for i, part in enumerate(parts):
      padded = part + [part[-1]] * (size - len(part))
      draw = [config.image_every > 0 and (s % config.image_every == 0 or s == config.steps)
              for s in padded]
      log_steps, draw = tf.constant(padded, tf.int64), tf.constant(draw)
      before = time.perf_counter()
      out = loop.train_chunk(log_steps, tf.constant(len(part), tf.int32), draw,
                             writable(previous))
      losses, accuracies = (out["records"][t].numpy() for t in (tags.LOSS, tags.ACCURACY))
      if i > 0:
        train_seconds += time.perf_counter() - before
        timed_steps += part[-1] - parts[i - 1][-1]
      previous = dict(out, log_steps=log_steps, draw=draw)
      for k in range(int(out["recorded"])):
        for key, value in (("step", part[k]), (tags.LOSS, float(losses[k])),
                           (tags.ACCURACY, float(accuracies[k]))):
          history[key].append(value)
        if on_log:
          on_log(part[k], float(losses[k]), float(accuracies[k]))
      if int(out["nonfinite_step"]) >= 0:
        raise Diverged(int(out["nonfinite_step"]))
      step = int(loop.step.numpy())
      last = step == config.steps
      interrupted = not last and should_stop is not None and should_stop()
      if checkpoints is not None and step > 0 and (last or interrupted or (
          checkpoint_every and step % checkpoint_every == 0)):
        checkpoints.save(checkpoint_number=step)
      if interrupted:
        break
  finally:  # the last chunk's summaries, also when stopped or diverged
    before = time.perf_counter()
    loop.train_chunk(*nothing, writable(previous))
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
