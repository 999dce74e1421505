"""SGD and Adam as pure update functions, so the compiled loop can carry their state as loop values.

The state lives in tf.Variables of an `Optimizer` module (for checkpoints); inside the loop it
is a dict of tensors. Adam follows keras.optimizers.Adam's update exactly (a test compares them).
"""

import tensorflow as tf

ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


class Optimizer(tf.Module):
  """An optimizer's hyperparameters and its slot variables (Adam's moments; none for SGD)."""

  def __init__(self, kind, learning_rate, params, name=None):
    super().__init__(name=name or kind)
    self.kind = kind
    self.learning_rate = learning_rate
    self.slots = {}
    if kind == "adam":
      for key, p in params.items():
        for moment in ("m", "v"):
          self.slots[f"{key}/{moment}"] = tf.Variable(
              tf.zeros(p.shape, p.dtype), name=f"{key}_{moment}".replace("/", "_"))

  def update(self, params, grads, slots, step):
    """One update. `step` counts the updates already done (int64); returns (params, slots)."""
    if self.kind == "sgd":
      return sgd(params, grads, self.learning_rate), slots
    return adam(params, grads, slots, step, self.learning_rate)

  def __repr__(self):
    return f"Optimizer({self.kind}, learning_rate={self.learning_rate:g})"


def sgd(params, grads, learning_rate):
  return {k: p - learning_rate * grads[k] for k, p in params.items()}


def adam(params, grads, slots, step, learning_rate):
  t = tf.cast(step + 1, params[next(iter(params))].dtype)
  alpha = learning_rate * tf.sqrt(1 - ADAM_BETA_2**t) / (1 - ADAM_BETA_1**t)
  new_params, new_slots = {}, {}
  for k, p in params.items():
    g = grads[k]
    m = slots[f"{k}/m"] + (g - slots[f"{k}/m"]) * (1 - ADAM_BETA_1)
    v = slots[f"{k}/v"] + (tf.square(g) - slots[f"{k}/v"]) * (1 - ADAM_BETA_2)
    new_params[k] = p - alpha * m / (tf.sqrt(v) + ADAM_EPSILON)
    new_slots[f"{k}/m"], new_slots[f"{k}/v"] = m, v
  return new_params, new_slots
