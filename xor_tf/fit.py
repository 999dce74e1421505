"""The `fit` trainer: xor_tf's Keras model trained by `model.fit` and logged by `SummaryCallback`."""

import math
import time

import keras
import tensorflow as tf

from xor_tf import callbacks
from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import losses
from xor_tf import models
from xor_tf import optim
from xor_tf import summaries
from xor_tf import tags
from xor_tf import training


def compile_model(model, config):
  """Compiles `model` with the optimizer, loss and steps per execution of `config`.

  The optimizer is the Keras counterpart of xor_tf's (its `optim.OPTIMIZERS` entry), so both
  trainers make the same update; the loss is computed from the model's probabilities, as Keras
  users do.
  """
  optimizer = optim.keras_optimizer(config.optimizer, config.hyperparameters)
  loss = (keras.losses.BinaryCrossentropy() if config.loss == "bce"
          else keras.losses.MeanSquaredError())
  model.compile(optimizer=optimizer, loss=loss, metrics=[keras.metrics.BinaryAccuracy()],
                steps_per_execution=config.log_every)


def train_step_graph(model, x, y):
  """The graph of one Keras `train_step` of `model` on a batch like (x, y): what fit runs.

  Traced for the Graphs dashboard only, never run: the forward pass through the model's layers,
  the loss, the gradients and the optimizer's update, under Keras' own name scopes, inside
  `train_step` as the step trainer's graph is.
  """
  def train_step(batch):
    with tf.name_scope("train_step"):
      return model.train_step(batch)

  spec = tuple(tf.TensorSpec([None, *v.shape[1:]], tf.as_dtype(v.dtype)) for v in (x, y))
  return tf.function(train_step, autograph=False).get_concrete_function(spec).graph


def dataset(steps):
  """The four XOR points as one batch, repeated `steps` times: one batch per optimizer step."""
  return tf.data.Dataset.from_tensors((data.INPUTS, data.LABELS)).repeat(steps)


class _Timer(keras.callbacks.Callback):
  """Times training after the first execution, which pays for tracing and XLA compilation."""

  def __init__(self, summary):
    super().__init__()
    self.summary = summary
    self.start = self.start_step = None
    self.seconds = 0.0
    self.steps = 0

  def on_train_batch_end(self, batch, logs=None):
    if self.start is None:
      self.start, self.start_step = time.perf_counter(), self.summary.step

  def on_train_end(self, logs=None):
    if self.start is not None:
      self.seconds = time.perf_counter() - self.start
      self.steps = self.summary.step - self.start_step


def train_with_fit(config, *, writer=None, on_log=None, return_net=False):
  """Trains the Keras network of `config` from its seed with `model.fit` for config.steps steps.

  The model and its initial weights are `models.build(config)`'s, as with the train step.
  Each optimizer step is one batch of the four XOR points. One Keras epoch is
  config.log_every steps (the last epoch may be shorter), run as one compiled execution
  (steps_per_execution=log_every), so Keras' per-epoch and per-execution work happens once
  per logging interval, not once per step. `SummaryCallback` writes at step 0, every
  log_every-th step and the last; for xor_tf's own model its record is the step trainer's
  (`step.observe`, loss and accuracy at the step's weights included), so a summary added there
  reaches fit runs too. With a writer, the logging steps that are picture steps
  (`training.is_picture_step`) also get the step trainer's pictures (`summaries.draw`) and its
  truth table (`summaries.write_truth_table`), and after training the graph of Keras'
  `train_step` is written for the Graphs dashboard.

  Args:
    config: a checked `xor_tf.config.Config` with arch 'keras'.
    writer: a tf.summary writer for the run's summaries (flushed, left open), or None to
      write none.
    on_log: called as on_log(step, loss, accuracy) at every logging step, for progress
      display.

    return_net: also return the trained network (for export).

  Returns:
    A `training.Result` (and the network, with return_net); train_seconds and trained_steps
    leave out the first execution (log_every steps), which compiles; trace_count is 0 (Keras
    traces its own functions).

  Raises:
    ValueError: if config.arch is not 'keras'.
  """
  config = config_lib.check(config)
  if config.arch != "keras":
    raise ValueError(f"train_with_fit trains arch 'keras' only (a keras.Sequential); received "
                     f"arch {config.arch!r}.")
  net = models.build(config)
  compile_model(net.model, config)
  history = {"step": [], tags.LOSS: [], tags.ACCURACY: []}
  x, y = tf.constant(data.INPUTS), tf.constant(data.LABELS)

  def record(step, scalars):
    loss, accuracy = scalars.get(tags.LOSS, math.nan), scalars.get(tags.ACCURACY, math.nan)
    for key, value in (("step", step), (tags.LOSS, loss), (tags.ACCURACY, accuracy)):
      history[key].append(value)
    if writer is not None and training.is_picture_step(step, config):
      with writer.as_default():
        callbacks.write_pictures(summaries.draw(net.apply_columns, net.params,
                                                net.activation.picture_range), step)
        summaries.write_truth_table(net(x)[1][tags.OUTPUT], step)
    if on_log:
      on_log(step, loss, accuracy)

  summary = callbacks.SummaryCallback(writer=writer or tf.summary.create_noop_writer(),
                                      log_every=config.log_every, on_log=record)
  timer = _Timer(summary)
  net.model.fit(dataset(config.steps), epochs=math.ceil(config.steps / config.log_every),
                steps_per_epoch=config.log_every, shuffle=False, verbose=0,
                callbacks=[summary, timer])
  if writer is not None:
    with writer.as_default():
      tf.summary.graph(train_step_graph(net.model, x, y))
  logits, activations = net(x)
  probabilities = activations[tags.OUTPUT]
  result = training.Result(
      probabilities=probabilities.numpy().reshape(-1),
      loss=float(losses.compute_loss(logits, y, config.loss)),
      accuracy=float(summaries.accuracy(probabilities, y)),
      history=history,
      train_seconds=timer.seconds,
      trained_steps=timer.steps,
      trace_count=0,
      step=summary.step,
  )
  return (result, net) if return_net else result
