"""The shared train step and the compiled loop that runs it for every architecture.

`train_step` is one update of any network: forward pass, loss, gradients, optimizer update.
`TrainLoop.train_chunk` is the one `@tf.function` a run calls: an XLA-compiled while-loop
runs `train_step` up to each logging step of the chunk, carrying weights and optimizer state
as loop values, records what that step logs, and after the loop the weights are assigned
back to their variables once and the records written as summaries. It takes tensors only,
so it traces once per run.
"""

import dataclasses
import math
import time

import numpy as np
import tensorflow as tf

from xor_tf import data
from xor_tf import models
from xor_tf import optim
from xor_tf import summaries
from xor_tf import tags

# A chunk holds up to this many logging steps, and about this many training steps, so the
# per-call cost (~0.3 ms) is spread thin while progress and interrupts stay prompt.
MAX_LOGS_PER_CHUNK = 64
STEPS_PER_CHUNK = 2000


def compute_loss(logits, labels, kind):
  """Mean BCE computed stably from logits ('bce'), or mean squared error of the probabilities."""
  if kind == "bce":
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
  return tf.reduce_mean(tf.square(tf.sigmoid(logits) - labels))


def tape_gradients(net, params, x, y, loss_kind):
  """Loss and d(loss)/d(params) by GradientTape: (loss, {name: gradient})."""
  with tf.GradientTape() as tape:
    tape.watch(params)
    loss = compute_loss(net.apply(params, x)[0], y, loss_kind)
  return loss, tape.gradient(loss, params)


def train_step(net, optimizer, state, x, y, loss_kind, gradients=tape_gradients):
  """One training step on a state dict {'params', 'slots', 'step'} of tensors; returns the next.

  `gradients(net, params, x, y, loss_kind) -> (loss, grads)` computes the gradients.
  """
  _, grads = gradients(net, state["params"], x, y, loss_kind)
  params, slots = optimizer.update(state["params"], grads, state["slots"], state["step"])
  return {"params": params, "slots": slots, "step": state["step"] + 1}


class TrainLoop(tf.Module):
  """A network, its optimizer, the step counter and the summary writer, and the compiled loop."""

  def __init__(self, net, optimizer, *, loss, writer=None, logs_per_chunk=1,
               gradients=tape_gradients):
    super().__init__(name="train_loop")
    self.net = net
    self.gradients = gradients
    self.optimizer = optimizer
    self.loss = loss
    self.writer = writer
    self.logs_per_chunk = logs_per_chunk
    self.step = tf.Variable(0, dtype=tf.int64, name="step")
    self.x = tf.constant(data.INPUTS)
    self.y = tf.constant(data.LABELS)
    loss_fn = lambda logits, y: compute_loss(logits, y, loss)
    example = summaries.observe(net.apply, self._read()["params"], self.x, self.y, loss_fn)
    self.metadata = {tag: summaries.metadata_for(tag) for tag in example}
    self.dtypes = {tag: value.dtype for tag, value in example.items()}
    self._observe = lambda params: summaries.observe(net.apply, params, self.x, self.y, loss_fn)

  def _read(self):
    return {
        "params": {k: tf.convert_to_tensor(v) for k, v in self.net.params.items()},
        "slots": {k: tf.convert_to_tensor(v) for k, v in self.optimizer.slots.items()},
        "step": tf.convert_to_tensor(self.step),
    }

  def _assign(self, state):
    for k, v in self.net.params.items():
      v.assign(state["params"][k])
    for k, v in self.optimizer.slots.items():
      v.assign(state["slots"][k])
    self.step.assign(state["step"])

  @tf.function(jit_compile=True)
  def _advance(self, state, log_steps, num_logs):
    """Trains up to each of the first `num_logs` of `log_steps`, recording each logging step."""
    records = {tag: tf.TensorArray(dtype, size=self.logs_per_chunk)
               for tag, dtype in self.dtypes.items()}

    def until_log(k, state, records):
      state = tf.while_loop(
          lambda s: s["step"] < log_steps[k],
          lambda s: [train_step(self.net, self.optimizer, s, self.x, self.y, self.loss,
                               self.gradients)],
          [state])[0]
      record = self._observe(state["params"])
      records = {tag: ta.write(k, record[tag]) for tag, ta in records.items()}
      return k + 1, state, records

    _, state, records = tf.while_loop(
        lambda k, *_: k < num_logs, until_log, [tf.constant(0), state, records])
    return state, {tag: ta.stack() for tag, ta in records.items()}

  @tf.function
  def train_chunk(self, log_steps, num_logs):
    """Trains to `log_steps[num_logs - 1]`, writing summaries at each of the first `num_logs` steps.

    Args:
      log_steps: int64 [logs_per_chunk], increasing logging steps; entries past num_logs are
        padding.
      num_logs: int32 scalar, how many entries of log_steps are real.

    Returns:
      {tag: [logs_per_chunk] values} for the scalars loss and accuracy.
    """
    state, records = self._advance(self._read(), log_steps, num_logs)
    self._assign(state)
    if self.writer is not None:
      with self.writer.as_default():
        for k in tf.range(num_logs):
          summaries.write({tag: r[k] for tag, r in records.items()}, log_steps[k], self.metadata)
    return {tags.LOSS: records[tags.LOSS], tags.ACCURACY: records[tags.ACCURACY]}


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

  @property
  def labels(self):
    return (self.probabilities > 0.5).astype(int)

  @property
  def us_per_step(self):
    return 1e6 * self.train_seconds / max(1, self.trained_steps)


def create(config, writer=None):
  """Builds the network, optimizer and loop that `config` describes (the seed decides all weights)."""
  net = models.build(config)
  optimizer = optim.Optimizer(config.optimizer, config.learning_rate, net.params)
  return TrainLoop(net, optimizer, loss=config.loss, writer=writer,
                   logs_per_chunk=logs_per_chunk(config.log_every))


def train(config, *, writer=None, on_log=None):
  """Trains the network of `config` from its seed for config.steps steps.

  Args:
    config: a checked `xor_tf.config.Config`.
    writer: a tf.summary writer for the run's summaries, or None to write none.
    on_log: called as on_log(step, loss, accuracy) after every chunk for its logging steps,
      for progress display.

  Returns:
    A `Result`.
  """
  loop = create(config, writer)
  schedule = logging_steps(config.steps, config.log_every)
  size = loop.logs_per_chunk
  # The first call logs step 0 alone and pays for tracing and XLA compilation; the rest are timed.
  chunks = [schedule[:1]] + [schedule[i:i + size] for i in range(1, len(schedule), size)]
  history = {"step": [], tags.LOSS: [], tags.ACCURACY: []}
  train_seconds = 0.0
  for i, chunk in enumerate(chunks):
    padded = np.array(chunk + [chunk[-1]] * (size - len(chunk)), np.int64)
    start = time.perf_counter()
    out = loop.train_chunk(tf.constant(padded), tf.constant(len(chunk), tf.int32))
    losses, accuracies = out[tags.LOSS].numpy(), out[tags.ACCURACY].numpy()
    if i > 0:
      train_seconds += time.perf_counter() - start
    for k, step in enumerate(chunk):
      history["step"].append(step)
      history[tags.LOSS].append(float(losses[k]))
      history[tags.ACCURACY].append(float(accuracies[k]))
      if on_log:
        on_log(step, float(losses[k]), float(accuracies[k]))
  if writer is not None:
    writer.flush()
  _, activations = loop.net(loop.x)
  return Result(
      probabilities=activations[tags.OUTPUT].numpy().reshape(-1),
      loss=history[tags.LOSS][-1],
      accuracy=history[tags.ACCURACY][-1],
      history=history,
      train_seconds=train_seconds,
      trained_steps=config.steps,
      trace_count=loop.train_chunk.experimental_get_tracing_count(),
  )
