"""Backpropagation by hand: the chain rule layer by layer, as notebooks 000 and 001 write it.

Notation. Every layer computes z = input·W + b and a = f(z). Hidden layers use the run's
activation f (`xor_tf.activations`); the output layer is a sigmoid σ, its z the logits and its
a the probabilities. A layer's delta is dL/dz. N is the number of terms the loss averages: the
four XOR points. Each activation's derivative needs only the activation a (the notebooks'
`sigmoid_derivative(a)`):

  sigmoid  f'(z) = a(1 − a)         tanh  f'(z) = 1 − a²
  relu     f'(z) = 1 where a > 0    linear  f'(z) = 1

  Output delta, BCE   L = −mean(y·log a + (1 − y)·log(1 − a))   dL/dz = (a − y) / N
  Output delta, MSE   L = mean((a − y)²)                         dL/dz = 2(a − y)·a(1 − a) / N
  Weight gradient     dL/dW = inputᵀ · delta
  Bias gradient       dL/db = delta summed over the batch
  Back to the input   dL/dinput = delta · Wᵀ
  Hidden delta        delta = dL/da · f'(z)

The notebooks leave out the 1/N (and MSE's 2), which only rescales the learning rate; here they
stay, so these are the gradients of the loss that losses.compute_loss reports and that
GradientTape differentiates (xor_tf.losses).
"""

import tensorflow as tf

from xor_tf import config
from xor_tf import losses
from xor_tf import tags


def sigmoid_derivative(a):
  """σ'(z) from the activation a = σ(z): a(1 − a)."""
  return a * (1 - a)


def output_delta(probabilities, y, loss_kind):
  """dL/dz of the output layer, for a loss that is the mean over all N output terms.

  BCE: dL/dz = (a − y) / N. The σ'(z) = a(1 − a) of the output unit cancels against the
  derivative of the log, so it never appears (notebook 000's "BCE + sigmoid" shortcut).
  MSE: dL/dz = 2(a − y)·a(1 − a) / N, the chain rule through the square and the sigmoid.

  Args:
    probabilities: the output activations a = σ(logits).
    y: the labels, broadcastable to `probabilities`.
    loss_kind: 'bce' or 'mse'.

  Returns:
    A tensor shaped like `probabilities`.
  """
  # N counts one network's terms: points x output units (a stack has its model axis last).
  n = tf.cast(probabilities.shape[0] * probabilities.shape[1], probabilities.dtype)
  y = losses.labels_like(y, probabilities)
  if loss_kind == "bce":
    return (probabilities - y) / n
  return 2 * (probabilities - y) * sigmoid_derivative(probabilities) / n


def layer_gradients(inputs, kernel, delta):
  """The three products of one layer's backward pass, given its delta = dL/dz.

  dL/dW = inputᵀ·delta, a sum over the batch of each point's outer product input[n]ᵀ delta[n];
  dL/db = delta summed over the batch; and dL/dinput = delta·Wᵀ, which the layers that feed
  this one continue from.
  A stack of M networks with the model axis last (`models.Network.apply_stack`) works
  unchanged: every shape below then ends in M.

  Args:
    inputs: [N, in] what the layer read (its sources concatenated).
    kernel: [in, out] the layer's W.
    delta: [N, out] dL/dz of the layer.

  Returns:
    (dL/dW [in, out], dL/db [out], dL/dinput [N, in]).
  """
  # Both products are written as multiply and reduce_sum, like models.dense: for these tiny
  # shapes XLA runs this form several times faster than a matmul or einsum (deep: ~3 µs a
  # step against 10-15).
  d_kernel = tf.reduce_sum(tf.expand_dims(inputs, 2) * tf.expand_dims(delta, 1), axis=0)
  d_bias = tf.reduce_sum(delta, axis=0)
  d_inputs = tf.reduce_sum(tf.expand_dims(delta, 1) * kernel[None], axis=2)
  return d_kernel, d_bias, d_inputs


def check_network(net, loss_kind):
  """Raises ValueError unless `net` is a hand-built Network and `loss_kind` a known loss."""
  if not hasattr(net, "units"):
    raise ValueError(
        "manual_gradients expects a hand-built models.Network with `units` (arch logistic, "
        f"concat, nn or deep); received a {type(net).__name__}, which has none (its layers are "
        "Keras Dense layers): train it with the GradientTape gradients.")
  if loss_kind not in config.LOSSES:
    raise ValueError(config.expected_one_of("loss", loss_kind, config.LOSSES))


def manual_gradients(net, params, x, y, loss_kind):
  """Loss and d(loss)/d(params) by hand-written backpropagation: (loss, {name: gradient}).

  A drop-in for step.tape_gradients. The forward pass is the network's own `apply`; the
  backward pass walks `net.units` from the output back to the inputs:

    output layer:  delta = (a − y)/N for BCE, 2(a − y)·a(1 − a)/N for MSE
    every layer:   dL/dW = inputᵀ·delta,  dL/db = Σ_batch delta,  dL/dinput = delta·Wᵀ
    hidden layer:  delta = dL/da · f'(z), f' from the activation a (a(1 − a) for the
                   sigmoid), where dL/da is the sum of the dL/dinput pieces of every layer
                   that reads it

  A layer that reads several sources concatenated (concat's unit3 reads [unit1, unit2]) splits
  its dL/dinput by their widths and hands each source its own columns.

  With a stack of networks (`models.Network.apply_stack`: the model axis last on every
  parameter) the same code runs batched; the loss is then each network's own [M], and each
  network's gradient is its own loss's.

  Args:
    net: a models.Network (logistic, concat, nn, deep, or any --hidden MLP).
    params: {name: tensor} with the keys of net.params, e.g. 'layer1/kernel' [in, out] and
      'layer1/bias' [out].
    x: [N, 2] the inputs.
    y: [N, 1] the labels.
    loss_kind: 'bce' (from logits) or 'mse' (of the probabilities).

  Returns:
    (loss, grads): the scalar mean loss and a dict with the same keys as `params`.

  Raises:
    ValueError: if `net` has no `units` (a KerasNetwork) or `loss_kind` is unknown.
  """
  check_network(net, loss_kind)
  with tf.name_scope("forward"):
    logits, activations = net.apply(params, x)
  with tf.name_scope("loss"):
    loss = losses.compute_loss(logits, y, loss_kind)
  if logits.shape.rank == 3:  # a stack of networks (models.Stack): x gets its model axis
    x = x[:, :, None]
  values = dict(activations, x=x)
  upstream = {}  # dL/da of each hidden layer, summed over the layers that read it
  grads = {}
  output_layer = net.units[-1][0]
  for layer, sources, _ in reversed(net.units):
    with tf.name_scope(f"gradients/{layer}"):  # in the graph: gradients/layer1/kernel, ...
      if layer == output_layer:
        delta = output_delta(activations[tags.OUTPUT], y, loss_kind)
      else:
        # `units` is in forward order, so every reader of `layer` has already added its share.
        # A layer that nothing reads (no network is built so) does not move the loss: zeros.
        d_a = upstream.pop(layer) if layer in upstream else tf.zeros_like(values[layer])
        delta = d_a * net.activation.derivative(values[layer])
      inputs = [values[s] for s in sources]
      kernel = params[tags.param_name(layer, "kernel")]
      d_kernel, d_bias, d_inputs = layer_gradients(
          tf.concat(inputs, axis=1) if len(inputs) > 1 else inputs[0], kernel, delta)
      grads[tags.param_name(layer, "kernel")] = tf.identity(d_kernel, name="kernel")
      grads[tags.param_name(layer, "bias")] = tf.identity(d_bias, name="bias")
      pieces = tf.split(d_inputs, [v.shape[1] for v in inputs], axis=1)
      for source, d_source in zip(sources, pieces):
        if source != "x":
          upstream[source] = upstream[source] + d_source if source in upstream else d_source
  return loss, {k: grads[k] for k in params}
