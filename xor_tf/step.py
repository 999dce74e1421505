"""The lesson: one training step of any network, and what a logging step records.

Read this beside the course notebooks. A training step is the notebooks' loop body:

    forward pass   logits, activations = net.apply(params, x)      (xor_tf/models.py)
    loss           mean over the four points                        (xor_tf/losses.py)
    gradients      d(loss)/d(params), by GradientTape or by hand    (xor_tf/backprop.py)
    update         params <- the optimizer's rule                   (xor_tf/optim.py)

Every trainer runs these same functions: a single run (`python -m xor_tf.train`), thousands of
seeds at once (`python -m xor_tf.sweep`: the parameters carry a model axis, and `net` is a
`models.Stack`, whose `apply` runs all the networks), and the picture of one step in
TensorBoard's Graphs dashboard. How they are run fast — the compiled loop, its chunks and the
event files — is the engine's business (xor_tf/training.py, xor_tf/ensemble.py), not the
lesson's.

Adding a summary. `observe` below is what every logging step records: add your tag and tensor
to the dict it returns, and it is written at every logging step of `--trainer=step` runs (by
the compiled loop) and of `--trainer=fit` runs (by `xor_tf.callbacks.SummaryCallback`). A
scalar (shape []) appears in TensorBoard's Scalars dashboard, any other shape as a histogram;
give the tag a description in `xor_tf.tags.DESCRIPTIONS`. Do not call `tf.summary.*` inside
`train_step`: it runs inside an XLA-compiled loop, where summary ops do not exist ("No
registered 'WriteSummary' OpKernel for XLA_CPU_JIT").
"""

import tensorflow as tf

from xor_tf import backprop
from xor_tf import losses
from xor_tf import summaries
from xor_tf import tags


def tape_gradients(net, params, x, y, loss_kind):
  """Loss and d(loss)/d(params) by GradientTape: (loss, {name: gradient}).

  The loss is one per network (a scalar, or [M] for a stack); each network learns from its own,
  so the tape differentiates their sum. In the graph: forward/<layer>, loss, and
  gradients/<layer>/kernel (TensorFlow puts the backward pass itself under gradient_tape/, one
  scope per forward scope it reverses).
  """
  with tf.GradientTape() as tape:
    tape.watch(params)
    with tf.name_scope("forward"):
      logits = net.apply(params, x)[0]
    with tf.name_scope("loss"):
      loss = losses.compute_loss(logits, y, loss_kind)
      total = tf.reduce_sum(loss)
  with tf.name_scope("gradients"):
    return loss, named(tape.gradient(total, params))


def named(tensors):
  """{'layer1/kernel': tensor, ...} -> the same values, each named after its key in the graph.

  One identity per parameter (XLA drops them), so that the Graphs dashboard shows and finds
  e.g. gradients/layer1/kernel.
  """
  by_layer = {}
  for key in tensors:
    by_layer.setdefault(key.rpartition("/")[0], []).append(key)
  out = {}
  for layer, keys in by_layer.items():  # one scope per layer: layer1/kernel and layer1/bias
    with tf.name_scope(layer or None):
      for key in keys:
        out[key] = tf.identity(tensors[key], name=key.rpartition("/")[2])
  return {key: out[key] for key in tensors}


# --gradients: how a step computes its gradients.
GRADIENTS = {"tape": tape_gradients, "manual": backprop.manual_gradients}


def train_step(net, optimizer, state, x, y, loss_kind, gradients=tape_gradients):
  """One training step on a state dict {'params', 'slots', 'step'} of tensors.

  Args:
    net: a network (`models`): `net.apply(params, x) -> (logits, activations)`.
    optimizer: an `optim.Update` (or `optim.Optimizer`): `update(params, grads, slots, step)`.
    state: {'params': {name: tensor}, 'slots': the optimizer's, 'step': int64 updates done}.
    x, y: the four XOR points [4, 2] and their labels [4, 1].
    loss_kind: 'bce' or 'mse'.
    gradients: `gradients(net, params, x, y, loss_kind) -> (loss, grads)` (GRADIENTS).

  Returns:
    (the next state, {'loss', 'accuracy'} of the state before this step's update: one value
    per network).
  """
  # forward, loss and gradients: each gradient function opens those name scopes itself.
  loss, grads = gradients(net, state["params"], x, y, loss_kind)
  with tf.name_scope("update"):
    params, slots = optimizer.update(state["params"], grads, state["slots"], state["step"])
    step = tf.add(state["step"], 1, name="step")
  with tf.name_scope("accuracy"):  # the forward pass above again: XLA computes it once
    probabilities = net.apply(state["params"], x)[1][tags.OUTPUT]
    accuracy = summaries.accuracy(probabilities, y)
  next_state = dict(state, params=params, slots=slots, step=step)
  return next_state, {tags.LOSS: loss, tags.ACCURACY: accuracy}


def observe(apply, params, x, y, loss_fn):
  """What one logging step records: loss, accuracy and a histogram per parameter and layer.

  Args:
    apply: the network's `apply(params, x)`.
    params: its parameters at the logging step.
    x, y: the four XOR points and their labels.
    loss_fn: `loss_fn(logits, y)`, the run's loss.

  Returns:
    A flat dict from tag (`xor_tf.tags`) to tensor; histograms are [BUCKETS, 3] buckets.
  """
  logits, activations = apply(params, x)
  record = {
      tags.LOSS: loss_fn(logits, y),
      tags.ACCURACY: summaries.accuracy(activations[tags.OUTPUT], y),
  }
  record.update(summaries.histograms({
      **{tags.weight(name): value for name, value in params.items()},
      **{tags.activation(name): value for name, value in activations.items()}}))
  return record
