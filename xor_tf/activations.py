"""The hidden units' activation functions, one table entry each: adding one is adding an entry.

Every entry holds what each part of xor_tf needs of an activation, so nothing else names one:

  function     a = f(z), applied by the networks (`models`) to every hidden layer
  derivative   f'(z) written from the activation a alone, as the notebooks write the sigmoid's
               `sigmoid_derivative(a)`; the hand-written backprop (`backprop`) multiplies by it
  picture_range  the values a can take, which a neuron's heatmap spans (`pictures`); None for
               an end that is unbounded: the heatmap then spans the layer's own values
  keras        the name of the same function in Keras (`keras.layers.Dense(activation=...)`)
  learning_rate  the SGD learning rate at which the `deep` net learns XOR with this unit,
               measured with the sweep (README, "Activations and optimizers"); a run
               takes it unless --learning_rate is given

The output unit stays a sigmoid whatever the hidden units are: its probability is what the loss
and the truth table read.

  name     f(z)                 f'(z) from a = f(z)
  sigmoid  1 / (1 + e^-z)       a(1 − a)            notebooks 000-002
  tanh     (e^z − e^-z)/(…)     1 − a²
  relu     max(0, z)            1 where a > 0, else 0
  linear   z                    1                   no non-linearity: any depth is still a line
"""

import dataclasses

# TensorFlow is imported when a function is first traced, not with this module: the command
# lines check their flags against this table before TensorFlow loads.
def _tf():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


@dataclasses.dataclass(frozen=True)
class Activation:
  name: str
  function: object  # z -> a
  derivative: object  # a -> f'(z), from the activation alone
  picture_range: tuple  # (lo, hi) of a; None where unbounded
  keras: str
  learning_rate: float  # SGD rate at which `deep` learns with it (README)
  formula: str  # for --help and the docs


ACTIVATIONS = {a.name: a for a in (
    Activation("sigmoid", lambda z: _tf().sigmoid(z), lambda a: a * (1 - a), (0.0, 1.0),
               "sigmoid", 5.0, "1/(1+e^-z), f' = a(1-a)"),
    Activation("tanh", lambda z: _tf().tanh(z), lambda a: 1 - a * a, (-1.0, 1.0),
               "tanh", 0.5, "tanh z, f' = 1-a^2"),
    Activation("relu", lambda z: _tf().nn.relu(z), lambda a: _tf().cast(a > 0, a.dtype),
               (0.0, None), "relu", 0.5, "max(0, z), f' = 1 where a > 0, else 0"),
    Activation("linear", lambda z: z, lambda a: _tf().ones_like(a), (None, None),
               "linear", 0.05, "z, f' = 1 (no non-linearity)"),
)}

NAMES = tuple(ACTIVATIONS)


def get(name):
  """The entry of `name`; ValueError naming the choices if there is none."""
  if name not in ACTIVATIONS:
    raise ValueError(f"Unknown activation {name!r}; expected one of: {', '.join(NAMES)}.")
  return ACTIVATIONS[name]
