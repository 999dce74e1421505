"""A Keras callback that writes the train step's TensorBoard summaries from any `model.fit`."""

import collections
import os
import warnings

import keras
import tensorflow as tf

from xor_tf import data
from xor_tf import summaries
from xor_tf import tags

# Keras names the accuracy in its logs after how it was asked for ('accuracy', 'acc') or
# after the metric's class ('binary_accuracy', ...); all are the train step's one accuracy.
ACCURACY_KEYS = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                 "sparse_categorical_accuracy")


class SummaryCallback(keras.callbacks.Callback):
  """Writes loss, accuracy and weight and activation histograms every `log_every` optimizer steps.

  The tags are the train step's (`xor_tf.tags`): `loss` and `accuracy` from the logs Keras
  passes to `on_train_batch_end`, `weights/<layer>/<variable>` for every weight of every
  layer, `activations/<layer>` for every layer's output on the probe batch, and
  `activations/output` for the model's output. Layers without weights get no weight
  histograms; layers whose output cannot be probed (input layers, layers called more than
  once, every layer of a subclassed model) get no activation histogram; if the model cannot
  take the probe batch, all activations are skipped with a warning.

  Steps are optimizer steps, counted by the callback from the optimizer's own count, so they
  increase across several `fit` calls. A log is written at the first batch end at or after
  each multiple of `log_every`, and at the last step when training ends; not at step 0,
  before Keras has reported a loss. Keras calls batch
  callbacks once per `steps_per_execution` steps, so logs land on multiples of `log_every`
  when `steps_per_execution` divides it. Keras' loss and accuracy at a batch end are its
  running means since the start of the epoch.

  Example:

    model.fit(x, y, epochs=100, callbacks=[SummaryCallback("logs/run1", log_every=50)])
  """

  def __init__(self, logdir=None, *, writer=None, log_every=100, probe=None, on_log=None):
    """Stores the settings; nothing is created or written until the first logging step.

    Args:
      logdir: directory for this callback's event file, created at the first log. Give it
        its own directory (or the same log_dir as keras.callbacks.TensorBoard, which writes
        into train/ and validation/ below it).
      writer: instead of logdir, a tf.summary writer; it is flushed at train end but left
        open, since its owner closes it.
      log_every: logging interval in optimizer steps, an integer > 0.
      probe: the inputs whose activations are logged, in the structure the model takes;
        default: the four XOR inputs.
      on_log: called as on_log(step, scalars) after each log, where scalars maps
        tags.LOSS and tags.ACCURACY to floats (those present in Keras' logs).

    Raises:
      ValueError: if both or neither of logdir and writer are given, if log_every is not a
        positive integer, or if Keras does not run on TensorFlow.
    """
    super().__init__()
    if (logdir is None) == (writer is None):
      raise ValueError("SummaryCallback expects exactly one of logdir and writer; received "
                       f"logdir={logdir!r}, writer={writer!r}.")
    if logdir is not None and (not isinstance(logdir, (str, os.PathLike)) or not str(logdir)):
      raise ValueError(f"logdir expects a directory path; received {logdir!r}.")
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every <= 0:
      raise ValueError(
          f"log_every expects an integer > 0 (optimizer steps); received {log_every!r}.")
    if on_log is not None and not callable(on_log):
      raise ValueError(f"on_log expects a callable or None; received {on_log!r}.")
    if keras.backend.backend() != "tensorflow":
      raise ValueError("SummaryCallback writes with tf.summary and expects the tensorflow "
                       f"Keras backend; received backend {keras.backend.backend()!r}.")
    self.logdir = None if logdir is None else os.fspath(logdir)
    self.log_every = log_every
    self.probe = data.INPUTS if probe is None else probe
    self.on_log = on_log
    self._writer = writer
    self._owns_writer = writer is None
    self._step = None  # optimizer steps, from the optimizer's count when first trained
    self._logged_step = None  # the last step written (or the start: nothing to write there)
    self._iterations = 0  # the optimizer's count at the last batch end
    self._last_logs = {}
    self._observed_model = None
    self._observe = None
    self._metadata = {}

  @property
  def step(self):
    """Optimizer steps trained so far, or None before the first `fit`."""
    return self._step

  def on_train_begin(self, logs=None):
    # Re-read at every fit: a recompiled model brings a new optimizer that counts from 0.
    self._iterations = self._optimizer_iterations()
    if self._step is None:
      self._step = self._logged_step = self._iterations

  def on_train_batch_end(self, batch, logs=None):
    now = self._optimizer_iterations()
    # The optimizer's count, not `batch`: an execution of several steps, or a last execution
    # cut short by the end of the data, still counts exactly the updates that happened.
    self._step += now - self._iterations if now >= self._iterations else now
    self._iterations = now
    self._last_logs = dict(logs or {})
    if self._step >= (self._logged_step // self.log_every + 1) * self.log_every:
      self._log(self._step, self._last_logs)

  def on_train_end(self, logs=None):
    if self._step is not None and self._step > self._logged_step:
      self._log(self._step, self._last_logs)
    if self._writer is not None:
      self._writer.flush()
      if self._owns_writer:
        self._writer.close()
        self._writer = None  # a later fit opens a new event file in the same directory

  def _optimizer_iterations(self):
    return int(self.model.optimizer.iterations.numpy())

  def _log(self, step, logs):
    scalars = scalars_from_logs(logs)
    if self._observed_model is not self.model:
      self._observe = self._build_observe()
      self._observed_model = self.model
    record = {tag: tf.constant(value, tf.float32) for tag, value in scalars.items()}
    record.update(self._observe())
    for tag, value in record.items():
      if tag not in self._metadata:
        self._metadata[tag] = summaries.metadata_for(tag, value)
    if self._writer is None:
      self._writer = tf.summary.create_file_writer(self.logdir)
    # record_if(True): keras.callbacks.TensorBoard leaves a record_if of its own in force
    # between its batches, which would otherwise silence these writes.
    with self._writer.as_default(), tf.summary.record_if(True):
      summaries.write(record, tf.constant(step, tf.int64), self._metadata)
    self._logged_step = step
    if self.on_log:
      self.on_log(step, scalars)

  def _build_observe(self):
    """The compiled function that returns every weight and activation histogram of the model."""
    model = self.model
    weights = named_weights(model)
    forward, names = probe_model(model)
    if forward is None:  # no graph of layers (a subclassed model): its output alone
      forward, names = model, [tags.activation(tags.OUTPUT)]
    probe = tf.nest.map_structure(tf.convert_to_tensor, self.probe)
    try:
      outputs = tf.nest.flatten(forward(probe, training=False))
      if len(outputs) != len(names):
        raise ValueError(f"expected {len(names)} output tensor(s), received {len(outputs)}")
    except Exception as e:  # pylint: disable=broad-except
      # A probe the model cannot take costs the activations, never the training run.
      warnings.warn(f"SummaryCallback: skipping activations, the model cannot take the probe "
                    f"batch: {type(e).__name__}: {e}", stacklevel=2)
      forward = None

    @tf.function(autograph=False)
    def observe():
      record = {tag: summaries.histogram_buckets(v.value) for tag, v in weights.items()}
      if forward is not None:
        outputs = forward(probe, training=False)
        for tag, value in zip(names, tf.nest.flatten(outputs)):
          record[tag] = summaries.histogram_buckets(value)
      return record

    return observe


def scalars_from_logs(logs):
  """{tags.LOSS: float, tags.ACCURACY: float} from Keras' logs, for the keys present.

  Args:
    logs: the dict Keras passes to a callback; other metrics are left out.

  Returns:
    A dict from tag to float.
  """
  scalars = {}
  if "loss" in logs:
    scalars[tags.LOSS] = float(logs["loss"])
  for key in ACCURACY_KEYS:
    if key in logs:
      scalars[tags.ACCURACY] = float(logs[key])
      break
  return scalars


def named_weights(model):
  """Every float weight of `model`'s layers, by its tag 'weights/<layer>/<variable>'.

  Two Dense layers both own a 'kernel'; the layer name keeps their tags apart. A layer
  holding sublayers (a nested model) can own several 'kernel's: those are told apart by
  their path below the layer, 'weights/<layer>/<sublayer>/kernel'. A weight shared by
  several layers is written once.

  Args:
    model: a built Keras model.

  Returns:
    A dict from tag to Keras variable, in layer order.
  """
  named, seen = {}, set()
  for layer in model.layers:
    counts = collections.Counter(v.name for v in layer.weights)
    for v in layer.weights:
      if id(v) in seen or not keras.backend.is_float_dtype(v.dtype):
        continue
      seen.add(id(v))
      name = v.name if counts[v.name] == 1 else _path_below(layer.name, v.path)
      named[_unique(tags.weight(tags.param_name(layer.name, name)), named)] = v
  return named


def probe_model(model):
  """A Keras model returning each probeable layer's output and the model's, and their tags.

  Args:
    model: a built Keras model.

  Returns:
    (forward, tags): a keras.Model from the model's inputs to the outputs of its layers
    (input layers, non-float outputs and layers called more than once left out) and its own
    output, and the tag of each output in order; (None, []) for a model without a graph of
    layers (a subclassed model), whose activations cannot be probed.
  """
  try:
    inputs, outputs = model.inputs, model.outputs
  except (AttributeError, ValueError):
    return None, []
  if not inputs or not outputs:
    return None, []
  final = outputs[0] if len(outputs) == 1 else None  # several outputs: each under its layer
  named = {}
  for layer in model.layers:
    if isinstance(layer, keras.layers.InputLayer):
      continue
    try:
      value = layer.output
    except (AttributeError, ValueError):  # never called, or called more than once
      continue
    if (not isinstance(value, keras.KerasTensor) or value is final
        or not keras.backend.is_float_dtype(value.dtype)):
      continue
    named[tags.activation(layer.name)] = value
  if final is not None:
    output_tag = tags.activation(tags.OUTPUT)
    if output_tag in named:  # a layer named 'output' that is not the last keeps a new tag
      renamed = _unique(output_tag, named)
      named[renamed] = named.pop(output_tag)
    named[output_tag] = final
  if not named:
    return None, []
  forward = keras.Model(inputs[0] if len(inputs) == 1 else inputs, list(named.values()),
                        name=f"{model.name}_probe")
  return forward, list(named)


def _path_below(layer_name, path):
  """'model/sequential/dense/kernel' below layer 'sequential' -> 'dense/kernel'."""
  parts = path.split("/")
  if layer_name in parts:
    return "/".join(parts[len(parts) - parts[::-1].index(layer_name):])
  return path


def _unique(tag, taken):
  if tag not in taken:
    return tag
  n = 1
  while f"{tag}_{n}" in taken:
    n += 1
  return f"{tag}_{n}"
