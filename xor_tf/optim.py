"""The optimizers, one table entry each: update, slots, hyperparameters and Keras counterpart.

Each update is a pure function, so the compiled loop can carry the optimizer's state (its
slots) as loop values. The state lives in tf.Variables of an `Optimizer` module (for
checkpoints); inside the loop it is a dict of tensors. Every update follows its Keras
counterpart's arithmetic exactly (a test compares them step by step), and the `fit` trainer
uses that counterpart, so both trainers make the same update.

  name      update (g the gradient, lr the learning rate)           slots     Keras
  sgd       p ← p − lr·g                                            —         SGD
  momentum  m ← μ·m − lr·g;  p ← p + m                              m         SGD(momentum=μ)
  adam      m ← m + (g − m)(1 − β1);  v ← v + (g² − v)(1 − β2);     m, v      Adam
            p ← p − lr·√(1 − β2ᵗ)/(1 − β1ᵗ) · m / (√v + ε)

To add an optimizer, add an entry to OPTIMIZERS (its update loops over `_each(params)`, which
gives each parameter's update its name scope in the Graphs dashboard). A hyperparameter of its
own (like momentum's μ) is a field of `xor_tf.config.Config` declared with `config.setting(...,
optimizer_default=<its default>)`, named in the entry's `hyperparameters`: from there it reaches the flags, the sweep, HParams
and run names.

No TensorFlow is imported with this module (the command lines check their flags against the
table first); the updates use TensorFlow when they are traced.
"""

import dataclasses

ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


def _tf():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


@dataclasses.dataclass(frozen=True)
class Rule:
  """One optimizer: its update, the slots it keeps per parameter, and its Keras counterpart."""

  name: str
  update: object  # (params, grads, slots, step, hyper) -> (params, slots)
  slots: tuple  # per-parameter slot names: '<param>/<slot>' in the state
  hyperparameters: tuple  # Config fields it reads besides learning_rate, e.g. ('momentum',)
  keras: object  # hyper -> a keras.optimizers.Optimizer making the same update
  description: str


def _each(params):
  """(name, parameter) in turn, each inside a name scope of its name: in the Graphs dashboard
  the update of layer1's kernel is update/layer1/kernel/..."""
  tf = _tf()
  for k, p in params.items():
    with tf.name_scope(k):
      yield k, p


def _sgd(params, grads, slots, step, hyper):
  del step
  lr = hyper["learning_rate"]
  return {k: p - lr * grads[k] for k, p in _each(params)}, slots


def _momentum(params, grads, slots, step, hyper):
  del step
  lr, mu = hyper["learning_rate"], hyper["momentum"]
  new_params, new_slots = {}, {}
  for k, p in _each(params):
    m = slots[f"{k}/m"] * mu - grads[k] * lr
    new_params[k], new_slots[f"{k}/m"] = p + m, m
  return new_params, new_slots


def _adam(params, grads, slots, step, hyper):
  tf = _tf()
  lr = hyper["learning_rate"]
  with tf.name_scope("step_size"):
    t = tf.cast(step + 1, params[next(iter(params))].dtype)
    alpha = lr * tf.sqrt(1 - ADAM_BETA_2**t) / (1 - ADAM_BETA_1**t)
  new_params, new_slots = {}, {}
  for k, p in _each(params):
    g = grads[k]
    m = slots[f"{k}/m"] + (g - slots[f"{k}/m"]) * (1 - ADAM_BETA_1)
    v = slots[f"{k}/v"] + (tf.square(g) - slots[f"{k}/v"]) * (1 - ADAM_BETA_2)
    new_params[k] = p - alpha * m / (tf.sqrt(v) + ADAM_EPSILON)
    new_slots[f"{k}/m"], new_slots[f"{k}/v"] = m, v
  return new_params, new_slots


def _keras():
  import keras  # pylint: disable=g-import-not-at-top
  return keras


OPTIMIZERS = {r.name: r for r in (
    Rule("sgd", _sgd, (), (), lambda h: _keras().optimizers.SGD(h["learning_rate"], name="sgd"),
         "plain gradient descent, as in the notebooks"),
    Rule("momentum", _momentum, ("m",), ("momentum",),
         lambda h: _keras().optimizers.SGD(h["learning_rate"], momentum=h["momentum"],
                                           name="sgd"),
         "gradient descent with momentum (--momentum, Keras' SGD(momentum=...))"),
    Rule("adam", _adam, ("m", "v"), (),
         lambda h: _keras().optimizers.Adam(h["learning_rate"], beta_1=ADAM_BETA_1,
                                            beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON, name="adam"),
         "Keras' Adam update"),
)}

NAMES = tuple(OPTIMIZERS)


def slot_names(kind, param_names):
  """The slots `kind` keeps for these parameters, in order: '<param>/<slot>'."""
  return [f"{k}/{slot}" for k in param_names for slot in OPTIMIZERS[kind].slots]


def keras_optimizer(kind, hyper):
  """The Keras optimizer that makes `kind`'s update with these hyperparameters.

  Named as Keras names the first of its class (`sgd`, `adam`), not `sgd_1`, `sgd_2`, ... as
  Keras numbers later ones in a process: a fit run's graph (`train_step/sgd/...`) reads the
  same however many runs came before it, in a notebook or a test session.
  """
  return OPTIMIZERS[kind].keras(hyper)


class Update:
  """An optimizer's update with its hyperparameters: `update(params, grads, slots, step)`.

  Plain values, so it can be made inside a compiled function with tensors as hyperparameters
  (the ensemble passes its learning rate as one, so that one compiled loop serves every rate
  of a sweep).
  """

  def __init__(self, kind, hyper):
    """kind: a name in OPTIMIZERS; hyper: {'learning_rate': ..., and its hyperparameters}."""
    self.kind = kind
    self.rule = OPTIMIZERS[kind]
    self.hyper = dict(hyper)
    self.learning_rate = self.hyper["learning_rate"]

  def update(self, params, grads, slots, step):
    """One update. `step` counts the updates already done (int64); returns (params, slots)."""
    return self.rule.update(params, grads, slots, step, self.hyper)

  def __repr__(self):
    return f"{type(self).__name__}({self.kind}, {self.hyper})"


class Optimizer(Update):
  """An `Update` and its slot variables (zeros at the start), which checkpoints save."""

  def __init__(self, kind, hyper, params):
    super().__init__(kind, hyper)
    tf = _tf()
    self.slots = {}
    for key in slot_names(kind, params):
      p = params[key.rsplit("/", 1)[0]]
      self.slots[key] = tf.Variable(tf.zeros(p.shape, p.dtype), name=key.replace("/", "_"))
