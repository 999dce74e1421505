"""The networks: small tf.Modules of tf.Variables, and a Keras Sequential that keeps the same contract.

Every network has `params`, an ordered dict from names like 'layer1/kernel' to variables, and
`apply(params, x)`, a pure function of tensors returning `(logits, activations)`: the logits of
the output unit and a dict from layer name to that layer's activations, ending with 'output'
(the probabilities). The train loop differentiates `apply` with respect to `params`, carries
the parameters as loop values, and logs every activation without a second forward pass.
"""

import math

import tensorflow as tf

from xor_tf import activations as activations_lib
from xor_tf import config as config_lib
from xor_tf import tags


def dense(x, kernel, bias):
  """x @ kernel + bias, written as multiply and reduce_sum for small batches.

  For these tiny shapes XLA runs this form several times faster than a matmul. Leading axes
  broadcast, so a stack of networks (kernel [models, in, out]) works unchanged. A large batch
  goes through matmul, which is faster there (the pictures' grid uses `dense_columns`).
  """
  if kernel.shape.rank == 2 and x.shape.rank == 2 and (x.shape[0] or 0) > 64:
    return tf.matmul(x, kernel) + bias
  return tf.reduce_sum(x[..., :, :, None] * kernel[..., None, :, :], axis=-2) + bias[..., None, :]


def dense_columns(x, kernel, bias):
  """`dense` with the batch laid out one point per column: x [in, N] -> kernelᵀ @ x + bias [out, N]."""
  return tf.matmul(kernel, x, transpose_a=True) + bias[:, None]


def dense_stack(x, kernel, bias):
  """`dense` for a stack of M networks with the model axis LAST.

  x [N, in, M], kernel [in, out, M], bias [out, M] -> [N, out, M]: the same sums as `dense`,
  network by network. XLA vectorises the innermost axis, and with the models there a stack of
  10,000 2-2-1 nets trains ~2.7x faster than with them first, where the innermost axes would
  hold 1 or 2 values.
  """
  return tf.reduce_sum(x[:, :, None, :] * kernel[None], axis=1) + bias[None]


def initial_value(shape, init, seed, index, *, is_bias):
  """One parameter's initial value, a pure function of (init, seed, index).

  'normal' is the notebooks' tf.random.normal for weights and biases alike; 'uniform' is
  notebook 000's uniform(-1, 1) weights with zero biases; 'glorot' is Keras' default,
  Glorot-uniform weights with zero biases.
  """
  # The seed may be a tensor (the ensemble draws many seeds' values in one graph).
  rng_seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(index, tf.int64)])
  if init == "normal":
    return tf.random.stateless_normal(shape, seed=rng_seed)
  if is_bias:
    return tf.zeros(shape)
  limit = 1.0 if init == "uniform" else math.sqrt(6.0 / (shape[0] + shape[1]))
  return tf.random.stateless_uniform(shape, seed=rng_seed, minval=-limit, maxval=limit)


class Network(tf.Module):
  """Layers of units. `units` lists (layer name, inputs it reads, width) in order.

  The hidden layers use `activation` (an `xor_tf.activations` name); the output unit is a
  sigmoid, whose logits the loss reads.
  """

  def __init__(self, units, *, init, seed, activation="sigmoid", name=None):
    super().__init__(name=name)
    self.units = units
    self.activation = activations_lib.get(activation)
    self.params = {}
    sizes = {"x": 2}
    for layer, source, width in units:
      fan_in = sum(sizes[s] for s in source)
      sizes[layer] = width
      for var, shape in (("kernel", [fan_in, width]), ("bias", [width])):
        key = tags.param_name(layer, var)
        value = initial_value(shape, init, seed, len(self.params), is_bias=var == "bias")
        self.params[key] = tf.Variable(value, name=key.replace("/", "_"))

  def apply(self, params, x):
    return self._forward(params, x, dense, features_axis=-1)

  def apply_columns(self, params, points):
    """`apply` on a large batch laid out one point per column: points float32 [2, N].

    The pictures' 4,096 grid points go through the network this way. With the points on the
    minor axis every op runs along rows of N contiguous values, which XLA on CPU vectorizes:
    the deep net's grid forward pass takes ~2.4x less time than `apply` on [N, 2].

    Returns:
      (logits [1, N], {layer: activations [width, N]}), the transposes of `apply`'s.
    """
    return self._forward(params, points, dense_columns, features_axis=0)

  def apply_stack(self, params, x):
    """`apply` for a stack of M networks of this shape, the model axis LAST.

    params: kernel [in, out, M] and bias [out, M]; x [N, 2], shared by all. Returns (logits
    [N, 1, M], {layer: activations [N, width, M]}): network m's are `apply`'s of its params.
    The ensemble behind xor_tf.sweep trains through this with the one train step.
    """
    return self._forward(params, x[:, :, None], dense_stack, features_axis=1)

  def _forward(self, params, x, layer_fn, features_axis):
    values = {"x": x}
    logits = None
    for i, (layer, source, _) in enumerate(self.units):
      with tf.name_scope(layer):  # in the Graphs dashboard: forward/layer1/...
        inputs = (tf.concat([values[s] for s in source], axis=features_axis) if len(source) > 1
                  else values[source[0]])
        z = layer_fn(inputs, params[f"{layer}/kernel"], params[f"{layer}/bias"])
        if i == len(self.units) - 1:
          logits = z
        else:
          values[layer] = self.activation.function(z)
    activations = {k: v for k, v in values.items() if k != "x"}
    with tf.name_scope(tags.OUTPUT):
      activations[tags.OUTPUT] = tf.sigmoid(logits)
    return logits, activations

  def __call__(self, x):
    return self.apply(self.params, x)

  def __repr__(self):
    return (f"Network({', '.join(f'{n}:{w}' for n, _, w in self.units)}, "
            f"{self.activation.name})")


def mlp_units(widths):
  """The units of a 2-w1-...-wk-1 MLP: layer1 reads x, each next layer the previous one."""
  names = [f"layer{i + 1}" for i in range(len(widths) + 1)]
  sources = ["x"] + names[:-1]
  return [(n, (s,), w) for n, s, w in zip(names, sources, (*widths, 1))]


# The lecture's NN1 and NN2 read the inputs; NN3 reads both of their outputs, concatenated.
CONCAT_UNITS = [("unit1", ("x",), 1), ("unit2", ("x",), 1), ("unit3", ("unit1", "unit2"), 1)]


class KerasNetwork(tf.Module):
  """A keras.Sequential of Dense layers, trained through the same `apply` contract.

  The last Dense layer gives logits and a separate Activation layer the probabilities, so the
  loss can be computed stably from logits and `model.fit` can still use the plain model.
  Initial values are the hand-built networks' for the same init and seed, so `keras` and
  `deep` start from the same weights.
  """

  def __init__(self, widths, *, init, seed, activation="sigmoid", name=None):
    super().__init__(name=name)
    import keras  # pylint: disable=g-import-not-at-top

    units = mlp_units(widths)
    self.activation = activations_lib.get(activation)
    layers = [keras.Input((2,))]
    for layer, _, width in units[:-1]:
      layers.append(keras.layers.Dense(width, activation=self.activation.keras, name=layer))
    layers.append(keras.layers.Dense(1, name=units[-1][0]))
    layers.append(keras.layers.Activation("sigmoid", name=tags.OUTPUT))
    self.model = keras.Sequential(layers, name="xor_keras")
    self.params = {}
    for layer in self.model.layers:
      for v in layer.trainable_variables:
        key = tags.param_name(layer.name, v.name)
        v.assign(initial_value(v.shape, init, seed, len(self.params), is_bias=v.name == "bias"))
        self.params[key] = v

  def apply(self, params, x):
    *hidden, logits_layer, output_layer = self.model.layers
    h = x
    activations = {}
    for layer in hidden:
      h = activations[layer.name] = self._call(layer, params, h)
    logits = self._call(logits_layer, params, h)
    activations[tags.OUTPUT] = self._call(output_layer, params, logits)
    return logits, activations

  def apply_columns(self, params, points):
    """`apply` on points float32 [2, N], one per column, through the Keras layers themselves."""
    logits, activations = self.apply(params, tf.transpose(points))
    return tf.transpose(logits), {k: tf.transpose(v) for k, v in activations.items()}

  @staticmethod
  def _call(layer, params, h):
    weights = [params[tags.param_name(layer.name, v.name)] for v in layer.trainable_variables]
    with tf.name_scope(layer.name):  # in the graph: layer1/MatMul, as the hand-built layers
      return layer.stateless_call(weights, [], h)[0]

  def __call__(self, x):
    return self.apply(self.params, x)


def build(config):
  """The network that `config` names, with its initial weights drawn from `config.seed`."""
  c = config_lib.check(config)
  options = dict(init=c.init, seed=c.seed, activation=c.activation, name=c.arch)
  if c.arch == "logistic":
    return Network(mlp_units(()), **options)
  if c.arch == "concat":
    return Network(CONCAT_UNITS, **options)
  if c.arch == "keras":
    return KerasNetwork(c.widths, **options)
  return Network(mlp_units(c.widths), **options)


class Stack:
  """M networks of one shape trained as one: `net`'s units with a model axis last.

  Meets the same contract as a network, so the one train step (`xor_tf.step`) and the
  hand-written backprop run it unchanged: `apply(params, x)` takes params with kernels
  [in, out, M] and biases [out, M] and returns each network's logits and activations with the
  model axis last (`Network.apply_stack`).
  """

  def __init__(self, net):
    if not hasattr(net, "apply_stack"):
      raise ValueError(f"Stack expects a hand-built models.Network; received {net!r}.")
    self.net = net
    self.units = net.units
    self.activation = net.activation

  def apply(self, params, x):
    return self.net.apply_stack(params, x)

  def __repr__(self):
    return f"Stack({self.net!r})"
