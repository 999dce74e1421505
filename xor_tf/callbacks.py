"""A Keras callback that writes TensorBoard summaries from any `model.fit`, never stopping it."""

import collections
import contextlib
import functools
import math
import os
import re
import sys
import time
import types
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

from xor_tf import data
from xor_tf import losses
from xor_tf import models
from xor_tf import pictures as pictures_lib
from xor_tf import summaries
from xor_tf import tags

# Keras names the accuracy in its logs after how it was asked for ('accuracy', 'acc') or
# after the metric's class ('binary_accuracy', ...); the first present is written as 'accuracy'.
ACCURACY_KEYS = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                 "sparse_categorical_accuracy")
PROBE_SIZE = 16  # examples of the first training batch whose activations are written
ACTIVATION_VALUES = 2**18  # at most this many activation values a log: fewer probe examples
XOR_MODEL_NAME = "xor_keras"  # models.KerasNetwork's Sequential
VALIDATION = "validation"  # the subdirectory (or tag prefix) of validation metrics
LARGE_TENSOR = 2**16  # values above which a histogram takes its own op (`histograms`)


class SummaryCallback(keras.callbacks.Callback):
  """Writes every metric and weight and activation histograms of a `model.fit` to TensorBoard.

  What is written, at each logging step:

  - every metric in Keras' logs as a scalar under its own name (`loss`, `mae`,
    `priority_loss`, `d_loss`, ...; the first accuracy key, e.g. `binary_accuracy`, as
    `accuracy`): Keras' running means since the start of the epoch. Validation metrics
    (`val_*` at each epoch end) are written under the same names (without `val_`) into
    `<logdir>/validation`, as keras.callbacks.TensorBoard keeps them apart; with `writer=`,
    under `validation/<name>` tags.
  - `weights/<layer>/<variable>` for every float weight (batch-norm statistics included) of
    every layer; a nested model's layers as `weights/<model>/<layer>/<variable>`, sublayers
    of other layers (an LSTM's cell, a Bidirectional's halves) by their path below it.
  - `activations/<layer>` for the output of every layer call on the probe batch: a nested
    functional or Sequential model's layers as `activations/<model>/<layer>`, the nested
    model's own output as `activations/<model>`, a layer called k > 1 times as
    `activations/<layer>/call_0` ... `call_<k-1>`, the model's output (single-output models)
    as `activations/output`. A subclassed model has no graph of layers: its output alone,
    or, when it has no `call` of its own (a GAN holding a generator and a discriminator),
    the activations of each nested model that takes the probe batch.

  The probe batch is, by default, the first `PROBE_SIZE` examples of the first `fit`'s
  training data (arrays: their first rows; a tf.data.Dataset, PyDataset or generator: its
  first batch; else the validation data), kept for every later log so that histograms
  compare across steps; for xor_tf's own Keras model, the four XOR inputs. It is checked
  against the model's input spec (structure, rank, known dimensions, and dtype: integer
  inputs take no floats) before use. When its activations hold more than
  `ACTIVATION_VALUES` values (a conv net's feature maps), fewer of its examples are used.

  xor_tf's own model (`models.KerasNetwork`, named 'xor_keras') is written by
  `summaries.observe`, the step trainer's record, on the four XOR points: `loss` and
  `accuracy` at the step's weights, its weights and activations, with the step trainer's tags.

  Steps are real training steps: the number of train steps that updated the model, counted
  from Keras' batch indices and checked against every optimizer the model holds
  (`model.optimizer` and any other, such as a GAN's two), so an epoch end on data of
  unknown length, an execution cut short, or an optimizer that never steps does not move
  them. They continue across `fit` calls. Logs are written before the first step (step 0
  or where the first fit starts: weights and activations, and for xor_tf's model its loss and
  accuracy; Keras has no metric yet), at the first batch end at or after each multiple of
  `log_every`, at every epoch end when an epoch is shorter than `log_every`, and at the last
  step. With `steps_per_execution`, batch ends come once per execution.

  Whatever the callback cannot do costs that summary only: one warning says what was left
  out and why, and the fit goes on.

  Example:

    model.fit(x, y, epochs=10, callbacks=[SummaryCallback("logs/run1", log_every=50)])
  """

  def __init__(self, logdir=None, *, writer=None, log_every=100, probe=None, on_log=None):
    """Stores the settings; nothing is created or written until the first log.

    Args:
      logdir: directory for this callback's event file, created at the first log. Give it
        its own directory (or the same log_dir as keras.callbacks.TensorBoard, which writes
        into train/ and validation/ below it).
      writer: instead of logdir, a tf.summary writer; it is flushed at train end but left
        open, since its owner closes it.
      log_every: logging interval in training steps, an integer > 0.
      probe: the inputs whose activations are written, in the structure the model takes;
        default: a sample of the first training batch (the four XOR inputs for xor_tf's own
        model).
      on_log: called as on_log(step, scalars) after each log, where scalars maps each
        scalar tag written (tags.LOSS, tags.ACCURACY, other metrics) to a float.

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
          f"log_every expects an integer > 0 (training steps); received {log_every!r}.")
    if on_log is not None and not callable(on_log):
      raise ValueError(f"on_log expects a callable or None; received {on_log!r}.")
    if keras.backend.backend() != "tensorflow":
      raise ValueError("SummaryCallback writes with tf.summary and expects the tensorflow "
                       f"Keras backend; received backend {keras.backend.backend()!r}.")
    self.logdir = None if logdir is None else os.fspath(logdir)
    self.log_every = log_every
    self.probe = probe
    self.on_log = on_log
    self._writer = writer
    self._owns_writer = writer is None
    self._validation_writer = None
    self._step = None  # training steps, from the optimizers' count when first trained
    self._logged_step = None  # the last step written
    self._start = None  # the first fit's first step, until its state is written
    self._counts = {}  # id(optimizer) -> (optimizer, its iteration count at the last look)
    self._optimizers_step = False  # whether any optimizer has been seen to step
    self._batch_begin = 0
    self._epoch_start = 0
    self._fit_start = 0  # the step this fit started at
    self._epoch_steps = None  # steps per epoch of this fit, when Keras or an epoch end tells
    self._last_logs = {}
    self._probe = None  # the sample of the first training batch, when probe is None
    self._observer = None
    self._observed_model = None
    self._warned = set()
    self._disabled = False  # writing failed: the rest of this fit writes nothing

  @property
  def step(self):
    """Training steps so far, or None before the first `fit`."""
    return self._step

  # --- Keras' hooks: each is guarded, so that nothing raised here stops the fit. ---

  def on_train_begin(self, logs=None):
    self._guard(self._train_begin)

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch_start = self._step or 0

  def on_train_batch_begin(self, batch, logs=None):
    self._batch_begin = batch
    if self._start is not None and self._step == self._start:
      self._guard(self._log_start)

  def on_train_batch_end(self, batch, logs=None):
    self._guard(self._batch_end, batch, logs)

  def on_epoch_end(self, epoch, logs=None):
    self._guard(self._epoch_end, logs)

  def on_train_end(self, logs=None):
    self._guard(self._train_end)

  def _guard(self, fn, *args):
    try:
      fn(*args)
    except Exception as e:  # pylint: disable=broad-except
      self._warn(f"{fn.__name__.strip('_')}", f"SummaryCallback: a summary was left out: "
                 f"{_brief(e)}")

  def _warn(self, key, message):
    if key not in self._warned:
      self._warned.add(key)
      warnings.warn(message, stacklevel=3)

  def _train_begin(self):
    self._fit_start = self._step or 0
    self._disabled = False  # a writer that failed in an earlier fit is tried again
    self._counts = {id(o): (o, _iterations(o)) for o in optimizers_of(self.model)}
    steps = (self.params or {}).get("steps")  # per epoch, when Keras knows
    self._epoch_steps = steps if isinstance(steps, int) and steps > 0 else None
    if self._step is not None:
      return
    # The first fit: the count starts where the optimizers are (a model trained before).
    self._step = max((c for _, c in self._counts.values()), default=0)
    self._logged_step = self._start = self._fit_start = self._step
    if self.probe is None and not is_xor_model(self.model):
      self._probe, why = first_batch(self.model, PROBE_SIZE)
      if self._probe is None:
        self._warn("noprobe", "SummaryCallback: activations left out: no probe batch: "
                   f"{why}; give SummaryCallback(probe=...) inputs the model takes")

  def _log_start(self):
    """The state before the first step: at the first batch begin, so a fit of no steps
    writes nothing."""
    self._start = None
    if not self.model.weights or not all(layer.built for layer in self.model.layers):
      self._warn("unbuilt", f"SummaryCallback: step {self._step} left out: the model's layers "
                 "are built by its first train step (give it a keras.Input to have the "
                 "untrained state written).")
      return
    self._log({})

  def _batch_end(self, batch, logs):
    self._step += self._steps_taken(batch)
    self._last_logs = dict(logs or {})
    short_epochs = self._epoch_steps is not None and self._epoch_steps < self.log_every
    if not short_epochs and self._step >= (self._logged_step // self.log_every + 1) * self.log_every:
      self._log(self._last_logs)

  def _epoch_end(self, logs):
    logs = dict(logs or {})
    steps = self._step - self._epoch_start
    if self._epoch_steps is None and steps > 0:
      self._epoch_steps = steps
    train = {k: v for k, v in logs.items() if not k.startswith("val_")}
    if steps < self.log_every and self._step > self._logged_step:
      self._log(train or self._last_logs)
    validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
    if validation:
      self._write_validation(validation)

  def _train_end(self):
    if self._step is not None and self._step > self._logged_step:
      self._log(self._last_logs)
    for writer in (self._writer, self._validation_writer):
      if writer is not None:
        writer.flush()
    if self._owns_writer:
      for writer in (self._writer, self._validation_writer):
        if writer is not None:
          writer.close()
      # A later fit opens new event files in the same directories.
      self._writer = self._validation_writer = None

  def _logs_left(self):
    """How many more logs this fit will write after the current one, as far as Keras'
    params tell (else many)."""
    params = self.params or {}
    epochs, steps = params.get("epochs"), params.get("steps") or self._epoch_steps
    if not epochs or not steps:
      return 100
    left = epochs * steps - (self._step - self._fit_start)
    every = steps if steps < self.log_every else self.log_every
    return max(0, left) // every

  def _steps_taken(self, batch):
    """Train steps run by the execution that just ended.

    Keras' batch indices count the steps it asked for: an execution cut short by the end of
    the data asked for more. The optimizers count the updates made, but Keras adds one at an
    epoch end that finds no data, and a GAN's optimizers are not `model.optimizer`. So: the
    fewer of the two, when some optimizer steps at all.
    """
    asked = max(1, batch - self._batch_begin + 1)
    stepped = 0
    for key, (optimizer, before) in list(self._counts.items()):
      now = _iterations(optimizer)
      stepped = max(stepped, now - before if now >= before else now)
      self._counts[key] = (optimizer, now)
    self._optimizers_step = self._optimizers_step or stepped > 0
    return min(asked, stepped) if self._optimizers_step else asked

  # --- What a log writes. ---

  def _log(self, logs):
    step = self._step
    self._logged_step = step
    if self._disabled:
      return
    if self._observed_model is not self.model:  # a new model after a recompile or swap
      self._observer = self._make_observer()
    record = self._observer(logs)
    metadata = self._observer.metadata
    if self._writer is None:
      self._writer = self._create_writer(self.logdir)
      if self._writer is None:
        return
    try:
      # record_if(True): keras.callbacks.TensorBoard leaves a record_if of its own in force
      # between its batches, which would otherwise silence these writes.
      with self._writer.as_default(), tf.summary.record_if(True):
        summaries.write(record, tf.constant(step, tf.int64), metadata)
    except Exception as e:  # pylint: disable=broad-except
      self._disabled = True
      self._warn("write", f"SummaryCallback: nothing more is written in this fit: writing "
                 f"step {step} failed: {_brief(e)}")
      return
    if self.on_log:
      self.on_log(step, {t: float(v) for t, v in record.items() if v.shape.rank == 0})

  def _create_writer(self, logdir):
    try:
      return tf.summary.create_file_writer(logdir)
    except Exception as e:  # pylint: disable=broad-except
      self._disabled = True
      self._warn("writer", f"SummaryCallback: nothing is written: logdir expects a directory "
                 f"it can create; received {logdir!r} ({_brief(e)})")
      return None

  def _write_validation(self, logs):
    scalars = self._scalars(logs)
    if self._disabled or not scalars:
      return
    if self.logdir is not None:
      if self._validation_writer is None:
        self._validation_writer = self._create_writer(os.path.join(self.logdir, VALIDATION))
      writer = self._validation_writer
    else:
      writer = self._writer
      scalars = {f"{VALIDATION}/{t}": v for t, v in scalars.items()}
    if writer is None:
      return
    with writer.as_default(), tf.summary.record_if(True):
      for tag, value in scalars.items():
        tf.summary.write(tag, tf.constant(value, tf.float32), step=self._step,
                         metadata=summaries.scalar_metadata_for(_metric_description(tag)))

  def _scalars(self, logs):
    scalars = scalars_from_logs(logs)
    skipped = sorted(set(logs) - set(_scalar_keys(logs)))
    if skipped:
      self._warn(("nonscalar", *skipped), f"SummaryCallback: metrics {skipped} left out: "
                 "expected scalars; received values of other shapes")
    return scalars

  def _make_observer(self):
    """What computes a log's record: called with Keras' logs, returns {tag: tensor}, and
    keeps each tag's SummaryMetadata in its `metadata`."""
    model = self.model
    self._observed_model = model
    if self.probe is None and is_xor_model(model):
      return _XorObserver(model)
    return _Observer(self, model, self._probe if self.probe is None else self.probe)


class _XorObserver:
  """xor_tf's own model: the step trainer's record (`summaries.observe`) on the XOR points."""

  def __init__(self, model):
    self.apply, self.params = xor_network(model)
    kind = "mse" if isinstance(model.loss, keras.losses.MeanSquaredError) else "bce"
    self.loss_fn = lambda logits, y: losses.compute_loss(logits, y, kind)
    self.x, self.y = tf.constant(data.INPUTS), tf.constant(data.LABELS)
    self.metadata = {}

  def __call__(self, logs):
    record = summaries.observe(self.apply, self.params, self.x, self.y, self.loss_fn)
    for tag, value in record.items():
      if tag not in self.metadata:
        self.metadata[tag] = summaries.metadata_for(tag, value)
    return record


class _Observer:
  """Any other model: Keras' metrics, and histograms of its weights and of its activations.

  The first log runs eagerly, which costs no tracing but a recurrent layer's one step
  (`_layer_call`). If the logs left in the fit would cost more eagerly than tracing them (an
  RNN's steps run one by one from Python when eager), later logs run as one traced
  tf.function, which then costs a few milliseconds.
  """

  def __init__(self, callback, model, probe):
    self.callback = callback
    self.model = model
    self.weights = named_weights(model)
    self.probe = probe
    self.forward = None
    if probe is not None:
      self.forward = activation_function(model, probe, warn=callback._warn)  # pylint: disable=protected-access
    self.compiled = None
    self.seconds = math.inf  # the fastest eager log so far
    self.metadata = {}

  def __call__(self, logs):
    record = {tag: tf.constant(v, tf.float32)
              for tag, v in self.callback._scalars(logs).items()}  # pylint: disable=protected-access
    with without_graph_rewrites():
      record.update(self._record())
    for tag, value in record.items():
      if tag not in self.metadata:
        self.metadata[tag] = (summaries.scalar_metadata_for(_metric_description(tag))
                              if value.shape.rank == 0
                              else summaries.histogram_metadata_for(tags.description(tag)))
    return record

  def _record(self):
    """The histograms of this log: eagerly, or by the traced function once it pays."""
    record = {}
    if self.compiled is not None:
      try:
        record.update(self.compiled())
      except Exception:  # pylint: disable=broad-except
        self.compiled = False  # some layer cannot be traced here: eager from now on
        record.update(self._histograms())
    else:
      start = time.perf_counter()
      record.update(self._histograms())
      self.seconds = min(self.seconds, time.perf_counter() - start)
      # Tracing costs a few eager logs (measured at load 1 to 2: 0.7 s, about 3 eager logs,
      # for the benchmark's BiLSTM; 0.17 s, about 3, for its mnist_convnet); worth it when
      # enough logs remain.
      if (self.compiled is None
          and self.seconds * self.callback._logs_left() > 3 * self.seconds + 0.5):  # pylint: disable=protected-access
        self.compiled = _traced_once(lambda: self._histograms())  # pylint: disable=unnecessary-lambda
    return record

  def _histograms(self):
    tensors = {tag: v.value for tag, v in self.weights.items()}
    if self.forward is not None:
      try:
        activations = self.forward()
      except Exception as e:  # pylint: disable=broad-except
        self.forward = None
        self.callback._warn("forward", "SummaryCallback: activations left out: the probe "  # pylint: disable=protected-access
                            f"batch's forward pass failed: {_brief(e)}")
      else:
        if self._shrink_probe(activations):
          activations = self.forward()
        tensors.update(activations)
    tensors = {t: v for t, v in tensors.items() if v.shape.num_elements()}
    return histograms(tensors)

  def _shrink_probe(self, activations):
    """Fewer probe examples when their activations exceed ACTIVATION_VALUES (a conv net's).

    The histograms cost time in proportion to their values; a sample of 1 image's feature
    maps still holds hundreds of thousands.
    """
    total = sum(v.shape.num_elements() for v in activations.values())
    examples = min(v.shape[0] or 1 for v in tf.nest.flatten(self.probe))
    if total <= ACTIVATION_VALUES or examples <= 1:
      return False
    keep = max(1, examples * ACTIVATION_VALUES // total)
    self.probe = tf.nest.map_structure(lambda v: v[:keep], self.probe)
    self.forward = activation_function(self.model, self.probe, warn=self.callback._warn)  # pylint: disable=protected-access
    return self.forward is not None


def histograms(tensors, bucket_count=summaries.BUCKETS):
  """`summaries.histograms`' buckets, bucket for bucket, at the least cost eagerly or traced.

  `summaries.histograms` is written for XLA: a dozen segment ops over all the values at once,
  whatever their number, which suits many small tensors in a traced function. Run eagerly, as
  a callback's log is, each of its ops costs a dispatch (25 ms for a BiLSTM's 16 small
  tensors under load), so eagerly each tensor is bucketed by NumPy (`numpy_histogram`: the
  same float64 arithmetic, 1 ms for those 16). Traced, tensors of more than LARGE_TENSOR
  values take TensorFlow's own HistogramFixedWidth op, which computes the same counts —
  the same float64 `floor((x - lo) / ((hi - lo) / bucket_count))`, clamped to the last
  bucket — in one pass (5x faster than the segment ops on a 20,000-word embedding's 2.6
  million weights), and the rest go together through `summaries.histograms`.
  """
  record = {}
  if tf.executing_eagerly():
    for tag, value in tensors.items():
      buckets = numpy_histogram(value.numpy(), bucket_count)
      if buckets is not None:
        record[tag] = tf.constant(buckets)
  left = {t: v for t, v in tensors.items() if t not in record}  # traced, or not finite
  small = {t: v for t, v in left.items() if v.shape.num_elements() <= LARGE_TENSOR}
  record.update(summaries.histograms(small, bucket_count) if small else {})
  fractions = tf.range(bucket_count + 1, dtype=tf.float64) / bucket_count
  for tag, value in left.items():
    if tag in small:
      continue
    data = tf.reshape(tf.cast(value, tf.float64), [-1])
    lo, hi = tf.reduce_min(data), tf.reduce_max(data)
    spread = hi > lo  # else every value is equal: all in the last bucket, every edge the value
    counts = tf.histogram_fixed_width(
        data, tf.where(spread, tf.stack([lo, hi]), tf.constant([0.0, 1.0], tf.float64)),
        bucket_count)
    counts = tf.where(spread, counts, tf.one_hot(bucket_count - 1, bucket_count,
                                                 dtype=tf.int32) * tf.size(data))
    edges = lo + (hi - lo) * fractions
    record[tag] = tf.cast(tf.stack([edges[:-1], tf.concat([edges[1:-1], hi[None]], axis=0),
                                    tf.cast(counts, tf.float64)], axis=1), tf.float32)
  return {tag: record[tag] for tag in tensors}


def numpy_histogram(values, bucket_count=summaries.BUCKETS):
  """`summaries.histogram_buckets` of one array by NumPy, or None if a value is not finite.

  The same IEEE float64 operations in the same order as the TensorFlow ops (the float32
  values widened exactly, `floor((x - lo) / ((hi - lo) / bucket_count))` clamped to the last
  bucket, edges `lo + (hi - lo) * (k / bucket_count)`), so the same buckets, bit for bit (a
  test checks). NaN and infinities are left to TensorFlow's ops, whose min and max treat them
  their own way.

  Returns:
    float32 [bucket_count, 3]: left edge, right edge, count.
  """
  data = np.array(values, np.float64).ravel()  # a copy, bucketed in place
  lo, hi = data.min(), data.max()
  if not (np.isfinite(lo) and np.isfinite(hi)):
    return None
  if hi > lo:
    data -= lo
    data /= (hi - lo) / bucket_count
    np.floor(data, out=data)
    np.minimum(data, bucket_count - 1, out=data)
    counts = np.bincount(data.astype(np.intp), minlength=bucket_count)
  else:  # every value is equal: all in the last bucket, every edge the value
    counts = np.zeros(bucket_count, np.int64)
    counts[-1] = data.size
  edges = lo + (hi - lo) * (np.arange(bucket_count + 1, dtype=np.float64) / bucket_count)
  return np.stack([edges[:-1], np.append(edges[1:-1], hi), counts.astype(np.float64)],
                  axis=1).astype(np.float32)


@contextlib.contextmanager
def without_graph_rewrites():
  """Grappler's graph rewrites off for the functions first called in the block.

  TensorFlow optimizes a traced function when it is first called (later calls keep that); for
  the probe pass of a recurrent layer, whose while loop is traced once and called a few times,
  the rewrites cost more than they save (0.43 s against 0.24 s for a first call of a BiLSTM
  layer, measured under load). The option is restored after the block, so the model's own
  functions, called first by Keras later, are optimized as usual.
  """
  name = "disable_meta_optimizer"
  before = tf.config.optimizer.get_experimental_options().get(name, False)
  tf.config.optimizer.set_experimental_options({name: True})
  try:
    yield
  finally:
    tf.config.optimizer.set_experimental_options({name: before})


def _brief(error):
  """An exception as one line: Keras' messages span lines and carry terminal colours."""
  text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split())
  return f"{type(error).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def _metric_description(tag):
  return (f"Keras' {tag} in the logs of fit: its running mean since the start of the epoch "
          "(validation: over the validation data).")


def _scalar_keys(logs):
  keys = []
  for key, value in logs.items():
    try:
      if np.ndim(value) == 0:
        float(value)
        keys.append(key)
    except (TypeError, ValueError):
      pass
  return keys


def scalars_from_logs(logs):
  """{tag: float} for every scalar metric in Keras' logs.

  The first accuracy key present (ACCURACY_KEYS) becomes tags.ACCURACY; every other key
  keeps its name. Values that are not scalars are left out.

  Args:
    logs: the dict Keras passes to a callback.

  Returns:
    A dict from tag to float.
  """
  scalars = {}
  accuracy = next((k for k in ACCURACY_KEYS if k in logs), None)
  for key in _scalar_keys(logs):
    tag = tags.ACCURACY if key == accuracy else key
    if tag == tags.ACCURACY and key != accuracy:
      continue  # a metric itself called 'accuracy' is the accuracy already
    scalars[tag] = float(logs[key])
  return scalars


def _iterations(optimizer):
  return int(optimizer.iterations.numpy())


def optimizers_of(model):
  """The Keras optimizers a model holds: `model.optimizer` and any in its attributes.

  A GAN's own `compile(d_optimizer, g_optimizer)` keeps its two as attributes, while
  `model.optimizer` (Keras' default) never steps.
  """
  found = {}
  candidates = [getattr(model, "optimizer", None)]
  for value in vars(model).values():
    candidates.extend(value if isinstance(value, (list, tuple)) else [value])
  for value in candidates:
    if isinstance(value, keras.optimizers.Optimizer):
      found.setdefault(id(value), value)
  return list(found.values())


def is_xor_model(model):
  """Whether `model` is xor_tf's own Keras model (`models.KerasNetwork`'s Sequential)."""
  layers = model.layers if isinstance(model, keras.Sequential) else []
  return (model.name == XOR_MODEL_NAME and len(layers) >= 2
          and all(isinstance(layer, keras.layers.Dense) for layer in layers[:-1])
          and isinstance(layers[-1], keras.layers.Activation) and layers[-1].name == tags.OUTPUT)


def xor_network(model):
  """`(apply, params)` of xor_tf's Keras model: `models.KerasNetwork`'s own, on this model."""
  view = types.SimpleNamespace(model=model, _call=models.KerasNetwork._call)  # pylint: disable=protected-access
  params = {tags.param_name(layer.name, v.name): v
            for layer in model.layers for v in layer.trainable_variables}
  return functools.partial(models.KerasNetwork.apply, view), params


def write_pictures(pictures, step):
  """Writes pictures to the default writer as TensorBoard images, each with its description.

  Args:
    pictures: {tag: int32 pixels [1, H, W], 0xFFRRGGBB}, as `summaries.draw` returns them.
    step: the training step they show.
  """
  for tag, pixels in pictures.items():
    description = summaries.metadata_for(tag, pixels).summary_description
    tf.summary.image(tag, pictures_lib.rgb(pixels), step=step, description=description)


# --- The probe batch. ---

def first_batch(model, size):
  """The first `size` inputs of the first training batch of the `fit` running `model`.

  Keras gives callbacks no data, so this reads `fit`'s own arguments from its frame: arrays
  (and dicts or lists of them), a tf.data.Dataset, a keras.utils.PyDataset, a Python
  generator (the batch Keras already peeked); else the validation data.

  Returns:
    (inputs, None), or (None, why there are none).
  """
  frame = sys._getframe(1)  # pylint: disable=protected-access
  while frame is not None and not (frame.f_code.co_name == "fit"
                                   and frame.f_locals.get("self") is model):
    frame = frame.f_back
  if frame is None:
    return None, "not called from model.fit"
  local = frame.f_locals
  why = "the training data"
  for source in (local.get("x"), local.get("validation_data")):
    if source is None:
      continue
    try:
      batch = _batch_of(source, local.get("epoch_iterator"))
    except Exception as e:  # pylint: disable=broad-except
      why = f"reading the data failed: {_brief(e)}"
      continue
    if batch is not None:
      return tf.nest.map_structure(lambda v: tf.convert_to_tensor(np.asarray(v)[:size]), batch), None
    why = f"data of type {type(source).__name__} cannot be sampled"
  return None, why


def _batch_of(source, epoch_iterator):
  """The inputs of one batch of `source` (fit's x or validation_data), or None."""
  if isinstance(source, tf.data.Dataset):
    element = next(iter(source.take(1)))
    return keras.utils.unpack_x_y_sample_weight(element)[0]
  if isinstance(source, keras.utils.PyDataset):
    return keras.utils.unpack_x_y_sample_weight(source[0])[0]
  if isinstance(source, types.GeneratorType) or hasattr(source, "__next__"):
    adapter = getattr(epoch_iterator, "data_adapter", None)
    batches = getattr(adapter, "_first_batches", None)
    return keras.utils.unpack_x_y_sample_weight(batches[0])[0] if batches else None
  leaves = tf.nest.flatten(source)
  if leaves and all(_is_array(v) for v in leaves):
    if isinstance(source, tuple) and len(source) in (2, 3):  # validation_data=(x, y[, w])
      return source[0]
    return source
  return None


def _is_array(value):
  return isinstance(value, (np.ndarray, tf.Tensor)) or hasattr(value, "__array__")


def check_probe(inputs, probe):
  """The probe as a flat list of tensors, one per model input, checked against their specs.

  Args:
    inputs: the model's input KerasTensors (`model.inputs`).
    probe: a tensor, or a list, tuple or dict (by input name) of them.

  Returns:
    A list of tensors, cast to each input's dtype.

  Raises:
    ValueError: what was expected and what was received, if the probe does not fit.
  """
  if isinstance(probe, dict):
    missing = [x.name for x in inputs if x.name not in probe]
    if missing and len(probe) == len(inputs):
      flat = list(probe.values())
    elif missing:
      raise ValueError(f"expected inputs named {[x.name for x in inputs]}; received "
                       f"{sorted(probe)}")
    else:
      flat = [probe[x.name] for x in inputs]
  else:
    flat = tf.nest.flatten(probe)
  if len(flat) != len(inputs):
    raise ValueError(f"expected {len(inputs)} input(s); received {len(flat)}")
  checked = []
  for spec, value in zip(inputs, flat):
    value = tf.convert_to_tensor(value)
    shape = list(spec.shape)
    if value.shape.rank == len(shape) - 1 and shape[-1] == 1:
      value = value[..., None]
    received = f"{value.dtype.name} {tuple(value.shape)}"
    name = "" if spec.name.startswith("keras_tensor") else f" for input {spec.name!r}"
    expected = f"{spec.dtype} {tuple(shape)}{name}"
    fits = value.shape.rank == len(shape) and all(
        s is None or s == v for s, v in zip(shape[1:], value.shape[1:]))
    target = tf.as_dtype(spec.dtype)
    kind_fits = (target.is_floating and (value.dtype.is_floating or value.dtype.is_integer)
                 or target.is_integer and value.dtype.is_integer
                 or target == value.dtype)
    if not fits or not kind_fits:
      raise ValueError(f"expected {expected}; received {received}")
    checked.append(tf.cast(value, target))
  return checked


# --- Activations: one forward pass that keeps every layer call's output. ---

def activation_function(model, probe, *, warn):
  """A function returning {tag: activation tensor} of `model` on `probe`, or None.

  What cannot be probed is left out with one warning through `warn(key, message)`.
  """
  if _has_graph(model):
    try:
      flat = check_probe(model.inputs, probe)
    except ValueError as e:
      warn("probe", f"SummaryCallback: activations left out: the probe batch does not fit "
           f"the model's inputs: {e}")
      return None
    outputs = tf.nest.flatten(model.outputs)
    return lambda: _name_activations(_walk_graph(model, flat, ""), outputs=len(outputs) == 1)
  if type(model).call is not keras.Model.call:  # subclassed, with a call of its own
    probe = tf.nest.map_structure(tf.convert_to_tensor, probe)
    return lambda: {tags.activation(tags.OUTPUT): tf.nest.flatten(model(probe, training=False))[0]}
  # A container of models (a GAN): each nested model that takes the probe.
  parts, left_out = [], []
  for layer in model.layers:
    if not _has_graph(layer):
      continue
    try:
      parts.append((layer, check_probe(layer.inputs, probe)))
    except ValueError as e:
      left_out.append(f"{layer.name} ({e})")
  if left_out:
    warn("container", "SummaryCallback: activations of " + "; ".join(left_out) + " left out: "
         "the model has no call of its own and these nested models do not take the probe")
  if not parts:
    return None

  def forward():
    calls = []
    for layer, flat in parts:
      calls.extend(_nested_calls(layer, flat, ""))
    return _name_activations(calls + [(None, None)], outputs=False)
  return forward


def _has_graph(layer):
  """Whether `layer` is a functional or Sequential model with known inputs."""
  if not isinstance(layer, keras.Model):
    return False
  graph = layer._functional if isinstance(layer, keras.Sequential) else layer  # pylint: disable=protected-access
  try:
    return (graph is not None and hasattr(graph, "_run_through_graph")
            and bool(graph.inputs) and bool(graph.outputs))
  except (AttributeError, ValueError):
    return False


def _walk_graph(model, flat_inputs, prefix):
  """Runs `model`'s graph on flat_inputs; returns [(name, outputs)] for each layer call.

  A nested functional or Sequential model is walked into (`_nested_calls`). The last pair is
  (None, the model's outputs).
  """
  graph = model._functional if isinstance(model, keras.Sequential) else model  # pylint: disable=protected-access
  calls = []

  def operation_fn(operation):
    def call(*args, **kwargs):
      if isinstance(operation, keras.Model) and _has_graph(operation):
        inner = operation._functional if isinstance(operation, keras.Sequential) else operation  # pylint: disable=protected-access
        nested = _nested_calls(operation, inner._standardize_inputs(args[0]), prefix)  # pylint: disable=protected-access
        calls.extend(nested)
        return nested[-1][1]
      if getattr(operation, "_call_has_training_arg", False):
        kwargs["training"] = False
      outputs = _layer_call(operation, model)(*args, **kwargs)
      if isinstance(operation, keras.layers.Layer):
        calls.append((prefix + operation.name, outputs))
      return outputs
    return call

  result = graph._run_through_graph(flat_inputs, operation_fn=operation_fn)  # pylint: disable=protected-access
  calls.append((None, result))
  return calls


def _layer_call(layer, model=None):
  """How the probe pass calls `layer`: a recurrent layer step by step, or traced whole.

  Run eagerly, an RNN steps through time in Python, a dozen Keras ops a step (0.3 to 0.5 s
  for a BiLSTM layer of 50 steps at load 2); traced whole, its while loop costs 0.2 to 0.25 s
  to trace and run once. A plain LSTM, GRU or SimpleRNN (or a Bidirectional of them) is
  instead stepped through time eagerly by one traced step of its cells, the same ops on the
  same values as Keras' loop (`_Stepped`): the BiLSTM benchmark's two layers then take 0.1
  to 0.2 s at load 3, their one trace included. Any other recurrent layer, and one called in
  a traced function, runs through a tf.function of its own. Masks ride on the eager tensors,
  which a tf.function's inputs would drop: a masked call stays eager.
  """
  if not isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
    return layer
  if layer not in _RNN_CALLS:
    compiled = _traced_once(lambda *args, **kwargs: layer(*args, **kwargs))
    stepped = _Stepped.of(layer, {} if model is None else _STEPS_OF.setdefault(model, {}))

    def call(*args, **kwargs):
      masked = any(getattr(a, "_keras_mask", None) is not None for a in tf.nest.flatten(args))
      masked = masked or kwargs.get("mask") is not None
      if masked:
        return layer(*args, **kwargs)
      if (stepped is not None and tf.executing_eagerly() and len(args) == 1
          and all(v is None for k, v in kwargs.items() if k != "training")
          and stepped.takes(args[0])):
        return stepped(args[0])
      return compiled(*args, **kwargs)
    _RNN_CALLS[layer] = call
  return _RNN_CALLS[layer]


_RNN_CALLS = weakref.WeakKeyDictionary()
_CELLS = {keras.layers.LSTM: keras.layers.LSTMCell, keras.layers.GRU: keras.layers.GRUCell,
          keras.layers.SimpleRNN: keras.layers.SimpleRNNCell}


class _Stepped:
  """An inference call of a recurrent layer, its loop over time run eagerly, each step
  (of both directions at once for a Bidirectional) by one traced function of its cells.

  It does what `RNN.call` and `Bidirectional.call` do without a mask, an initial state or
  a stored state: zero states, the cell called on each time step (last to first when
  `go_backwards`; outputs in that order), outputs stacked along time, the backward half's
  flipped back and merged. A GRU's or SimpleRNN's cell is Keras' own, called as the layer
  calls it; an LSTM's is `_lstm_step`, LSTMCell's own ops in its order on the weights as
  arguments, so that LSTMs of one shape share one trace. Either way the values are the
  layer's, bit for bit (a test checks). Only layers whose call is Keras' own and whose cell
  is the stock one qualify, in one float dtype, on CPU (on a GPU Keras' LSTM and GRU run
  cuDNN's kernel instead).
  """

  def __init__(self, layer, halves, shared):
    self.layer = layer
    self.halves = halves  # the RNN layers stepped: [layer], or [forward, backward]
    self.steps = {}  # the traced step, by the shapes of a step
    self.shared = shared  # LSTMs' traced steps, by activations and shapes

  @classmethod
  def of(cls, layer, shared):
    """A _Stepped for `layer`, or None when it does not qualify.

    Args:
      layer: a Keras layer.
      shared: a dict where the LSTMs' traced steps are kept, shared with other _Stepped
        given the same dict: the model's.
    """
    halves = ([layer.forward_layer, layer.backward_layer]
              if type(layer) is keras.layers.Bidirectional else [layer])
    qualifies = all(
        type(h) in _CELLS and type(h.cell) is _CELLS[type(h)] and h.built and not h.stateful
        and h.compute_dtype == h.variable_dtype == layer.compute_dtype for h in halves)
    if not qualifies or getattr(layer, "stateful", False) or _has_gpu():
      return None
    return cls(layer, halves, shared)

  def takes(self, sequences):
    """Whether `sequences` is an eager tensor of [batch, time, features] in the layer's dtype
    (Keras' call would cast it)."""
    return (isinstance(sequences, tf.Tensor) and sequences.shape.rank == 3
            and bool(sequences.shape[1]) and sequences.dtype == self.layer.compute_dtype)

  def __call__(self, sequences):
    times = tf.unstack(sequences, axis=1)
    inputs = [times[::-1] if h.go_backwards else times for h in self.halves]
    states = [[tf.convert_to_tensor(s, h.cell.compute_dtype)
               for s in tf.nest.flatten(h.get_initial_state(batch_size=sequences.shape[0]))]
              for h in self.halves]
    weights = [_lstm_weights(h.cell) for h in self.halves]
    step = self._traced_step(sequences, [x[0] for x in inputs], states, weights)
    outputs = [[] for _ in self.halves]
    for t in range(len(times)):
      step_outputs, states = step([x[t] for x in inputs], states, weights)
      for kept, output in zip(outputs, step_outputs):
        kept.append(output)
    results = []
    for h, kept, last in zip(self.halves, outputs, states):
      output = tf.stack(kept, axis=1) if h.return_sequences else kept[-1]
      results.append((output, *last) if h.return_state else output)
    if len(results) == 1:
      return results[0]
    return self._merge(*results)

  def _traced_step(self, sequences, inputs, states, weights):
    """The step function for these shapes: traced at the first call, then kept.

    LSTMs take their weights as arguments (`_lstm_step`), so every LSTM of the model with
    the same shapes and activations shares one trace: a BiLSTM stack's four share one.
    Other cells read their own variables, and their step is this layer's own.
    """
    cells = tuple((h.cell.activation, h.cell.recurrent_activation) if w else h.cell
                  for h, w in zip(self.halves, weights))
    # A step's shapes: batch and features, not the number of steps.
    shapes = (sequences.dtype, sequences.shape[0], sequences.shape[2],
              tuple(tuple(w.shape) for ws in weights for w in ws))
    shared = all(weights)
    cache, key = (self.shared, (cells, shapes)) if shared else (self.steps, shapes)
    if key not in cache:
      cache[key] = _traced_once(functools.partial(_cells_step, cells)).get_concrete_function(
          inputs, states, weights)
    return cache[key]

  def _merge(self, y, y_rev):
    """`Bidirectional.call`'s merge of its halves' outputs."""
    layer = self.layer
    if layer.return_state:
      states = tuple(y[1:] + y_rev[1:])
      y, y_rev = y[0], y_rev[0]
    if layer.return_sequences:
      y_rev = tf.reverse(y_rev, axis=[1])
    if layer.merge_mode == "concat":
      output = tf.concat([y, y_rev], axis=-1)
    elif layer.merge_mode == "sum":
      output = y + y_rev
    elif layer.merge_mode == "ave":
      output = (y + y_rev) / 2
    elif layer.merge_mode == "mul":
      output = y * y_rev
    else:
      output = (y, y_rev)
    if layer.return_state:
      return (output if layer.merge_mode is None else (output,)) + states
    return output


# A model -> {(LSTM activations, shapes): a traced step of its LSTMs of that kind}. Kept by
# model, not for the process: each model's first log pays its own tracing.
_STEPS_OF = weakref.WeakKeyDictionary()


def _cells_step(cells, inputs, states, weights):
  """One time step of each cell: ([output], [states]).

  A cell is a Keras cell, called as RNN's loop calls it, or an LSTMCell's (activation,
  recurrent_activation), stepped by `_lstm_step` on its weights.
  """
  outputs, new_states = [], []
  for cell, x, state, w in zip(cells, inputs, states, weights):
    if w:
      output, state = _lstm_step(*cell, x, *state, *w)
    else:
      kwargs = {"training": False} if cell._call_has_training_arg else {}  # pylint: disable=protected-access
      output, state = cell(x, state, **kwargs)
    outputs.append(output)
    new_states.append(list(tf.nest.flatten(state)))
  return outputs, new_states


def _lstm_weights(cell):
  """[kernel, recurrent_kernel(, bias)] of an LSTMCell stepped by `_lstm_step`, else []."""
  if type(cell) is not keras.layers.LSTMCell or cell.implementation != 2:
    return []
  return [v.value for v in (cell.kernel, cell.recurrent_kernel, cell.bias) if v is not None]


def _lstm_step(activation, recurrent_activation, x, h, c, kernel, recurrent_kernel, bias=None):
  """`LSTMCell.call` (implementation 2) at inference on its weights: the same ops in the
  same order, so the same values."""
  z = tf.matmul(x, kernel)
  z = tf.add(z, tf.matmul(h, recurrent_kernel))
  if bias is not None:
    z = tf.add(z, bias)
  z0, z1, z2, z3 = tf.split(z, 4, axis=1)
  i = recurrent_activation(z0)
  f = recurrent_activation(z1)
  c = f * c + i * activation(z2)
  o = recurrent_activation(z3)
  h = o * activation(c)
  return h, [h, c]


@functools.lru_cache(maxsize=None)
def _has_gpu():
  return bool(tf.config.list_physical_devices("GPU"))


def _traced_once(fn):
  """tf.function(fn) for one layer or one callback, traced once.

  TensorFlow's warning about frequent retracing counts every function made from the same
  line as one: a model of five LSTMs would set it off. It is turned off by a private flag.
  """
  compiled = tf.function(fn, autograph=False)
  compiled._omit_frequent_tracing_warning = True  # pylint: disable=protected-access
  return compiled


def _nested_calls(model, flat_inputs, prefix):
  """The calls of a nested model's layers, named '<prefix><model>/<layer>', then its own.

  The nested model's output is its last layer's: written once, under the model's name.
  """
  *calls, (_, result) = _walk_graph(model, flat_inputs, f"{prefix}{model.name}/")
  out = {id(t) for t in tf.nest.flatten(result)}
  calls = [(n, v) for n, v in calls if not {id(t) for t in tf.nest.flatten(v)} <= out]
  return calls + [(prefix + model.name, result)]


def _name_activations(calls, *, outputs):
  """{tag: tensor} from [(name, outputs)], the last pair being (None, the model's outputs).

  One tag per float tensor; a name used by k > 1 calls (a shared layer) becomes
  name/call_0 ... call_<k-1>; the call that produced a single-output model's output is
  tagged 'output' when `outputs`.
  """
  *layer_calls, (_, result) = calls
  entries = []
  for name, value in layer_calls:
    flat = [v for v in tf.nest.flatten(value) if tf.is_tensor(v) and v.dtype.is_floating]
    entries.extend((name if len(flat) == 1 else f"{name}/{i}", v) for i, v in enumerate(flat))
  final = tf.nest.flatten(result) if outputs else []
  last = None
  if len(final) == 1:
    last = max((i for i, (_, v) in enumerate(entries) if v is final[0]), default=None)
  counts = collections.Counter(name for i, (name, _) in enumerate(entries) if i != last)
  seen = collections.Counter()
  record = {}
  for i, (name, value) in enumerate(entries):
    if i == last:
      continue
    if counts[name] > 1:
      seen[name] += 1
      name = f"{name}/call_{seen[name] - 1}"
    record[_unique(tags.activation(name), record)] = value
  if last is not None:
    output_tag = tags.activation(tags.OUTPUT)
    if output_tag in record:  # a layer named 'output' that is not the last keeps a new tag
      renamed = _unique(output_tag, record)
      record[renamed] = record.pop(output_tag)
    record[output_tag] = entries[last][1]
  return record


# --- Weights. ---

def named_weights(model):
  """Every float weight of `model`'s layers, by its tag 'weights/<layer>/<variable>'.

  Two Dense layers both own a 'kernel'; the layer name keeps their tags apart. A nested
  model's layers are named below it ('weights/<model>/<layer>/<variable>'); other layers
  holding sublayers (an LSTM's cell, a Bidirectional) by the path below the layer when
  their variable names repeat. A weight shared by several layers is written once.

  Args:
    model: a built Keras model.

  Returns:
    A dict from tag to Keras variable, in layer order.
  """
  named, seen = {}, set()

  def collect(layer, prefix):
    if isinstance(layer, keras.Model):
      for sub in layer.layers:
        collect(sub, f"{prefix}{layer.name}/")
    counts = collections.Counter(v.name for v in layer.weights)
    for v in layer.weights:
      if id(v) in seen or not keras.backend.is_float_dtype(v.dtype):
        continue
      seen.add(id(v))
      name = v.name if counts[v.name] == 1 else _path_below(layer.name, v.path)
      named[_unique(tags.weight(tags.param_name(prefix + layer.name, name)), named)] = v

  for layer in model.layers:
    collect(layer, "")
  return named


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
