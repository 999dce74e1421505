"""TensorBoard tag names, decided once: the train loop and the Keras callback both use these."""

LOSS = "loss"
ACCURACY = "accuracy"
OUTPUT = "output"  # the layer name of the network's output probabilities
HIDDEN_SPACE = "hidden_space"  # the picture of the last hidden layer's view (`pictures`)
SIGN_CHANGES_TOTAL = "sign_changes/total"

DESCRIPTIONS = {
    LOSS: "Training loss on the four XOR points (BCE from logits, or MSE of the probabilities).",
    ACCURACY: "Fraction of the four XOR points whose label (probability > 0.5) is right.",
    SIGN_CHANGES_TOTAL: "How many weight updates changed direction since the last logging "
                        "step (notebook 002's count), over all weights.",
}


def weight(param_name):
  """'layer1/kernel' -> 'weights/layer1/kernel' (biases included: 'weights/layer1/bias')."""
  return f"weights/{param_name}"


def activation(layer_name):
  """'layer1' -> 'activations/layer1'; the output probabilities are 'activations/output'."""
  return f"activations/{layer_name}"


def param_name(layer_name, variable_name):
  """The name of one variable inside a network: 'layer1' and 'kernel' -> 'layer1/kernel'."""
  return f"{layer_name}/{variable_name}"


def gradient(param_name):
  """'layer1/kernel' -> 'gradients/layer1/kernel': the histogram of d(loss)/d(that variable)."""
  return f"gradients/{param_name}"


def gradient_norm(layer_name):
  """'layer1' -> 'gradient_norm/layer1': the norm of the layer's whole gradient (kernel and bias)."""
  return f"gradient_norm/{layer_name}"


def sign_changes(layer_name):
  """'layer1' -> 'sign_changes/layer1': per weight, how often its update changed direction."""
  return f"sign_changes/{layer_name}"


def layer_of(param):
  """'layer1/kernel' -> 'layer1'."""
  return param.rsplit("/", 1)[0]


def picture(layer_name):
  """'output' -> 'pictures/decision_boundary'; a hidden layer -> 'pictures/layer1' (its neurons);
  HIDDEN_SPACE -> 'pictures/hidden_space'."""
  return "pictures/decision_boundary" if layer_name == OUTPUT else f"pictures/{layer_name}"


def is_picture(tag):
  return tag.startswith("pictures/")
