"""TensorBoard tag names, decided once: the train loop and the Keras callback both use these."""

LOSS = "loss"
ACCURACY = "accuracy"
OUTPUT = "output"  # the layer name of the network's output probabilities
HIDDEN_SPACE = "hidden_space"  # the picture of the last hidden layer's view (`pictures`)
SIGN_CHANGES_TOTAL = "sign_changes/total"
TRUTH_TABLE = "run/truth_table"  # Markdown text, at every picture step and the last step
FLAGS = "run/flags"  # Markdown text, at step 0

# TensorBoard shows a tag's description under the (i) of its card. Descriptions are Markdown.
DESCRIPTIONS = {
    LOSS: "Mean loss over the four XOR points: binary cross-entropy from the logits (with "
          "`--loss=mse`, the mean squared error of the probabilities). A solved net goes on "
          "towards 0. The flat lines where stuck nets sit (BCE; a point at p costs -ln p if "
          "its label is 1, -ln(1 - p) if 0): **ln 2 ≈ 0.693**, the net outputs 0.5 on all four "
          "points (the best a straight line, `logistic`, can do); **ln 2 / 2 ≈ 0.347**, two "
          "points learned and the other two left at 0.5 (2 × ln 2 over 4 points); ≈ 0.477, one "
          "point learned and three at 2/3. With `--loss=mse` the same states are at 0.25, "
          "0.125 and 1/6.",
    ACCURACY: "Fraction of the four XOR points whose label (probability > 0.5) is right: below 1 "
              "while the net is stuck, 1 when it computes XOR. A probability within 1e-6 of 0.5 "
              "decides nothing and counts as wrong.",
    SIGN_CHANGES_TOTAL: "How many weight updates changed direction since the last logging "
                        "step (notebook 002's count), over all weights.",
}

# Descriptions of whole families of tags, by their group (the text before the first '/'):
# {group: text with {name}, the rest of the tag}.
GROUP_DESCRIPTIONS = {
    "weights": "Histogram of the values of `{name}`: a kernel holds the weights from each input "
               "of the layer to each of its units, a bias one value per unit. Watch them grow "
               "and spread as the net learns; a layer whose weights barely move is not learning.",
    "activations": "Histogram of what `{name}` outputs on the four XOR points (every unit, every "
                   "point). For `output`, the four probabilities: a solved net has two near 0 "
                   "and two near 1; values piled at 0.5 are a stuck net, values piled at the "
                   "ends of the range (0 and 1 for sigmoid) are saturated units.",
    "gradients": "Histogram of d(loss)/d(`{name}`) at the logging step, one value per weight "
                 "(--diagnostics). In a deep sigmoid net they are narrow in the first layers "
                 "and wide near the output: the gradient vanishes on its way back.",
    "gradient_norm": "Norm of `{name}`'s whole gradient, kernel and bias (--diagnostics). "
                     "The Custom Scalars dashboard draws every layer on one chart: a first "
                     "layer whose norm is many times smaller than the last layer's gets "
                     "updates that many times smaller from plain gradient descent (the "
                     "vanishing gradient).",
    "gradient_norm_relative": "`{name}`'s gradient norm divided by the last layer's "
                              "(--diagnostics): 1 is a gradient as large as the output layer's, "
                              "0.03 one thirty times smaller (the vanishing gradient).",
    "sign_changes": "Histogram, per weight of `{name}`, of how often its update changed "
                    "direction since the last logging step (notebook 002's count, "
                    "--diagnostics): many changes are a weight oscillating across a valley.",
}


def description(tag):
  """The description TensorBoard shows for `tag`: its own, its group's, or ''."""
  if tag in DESCRIPTIONS:
    return DESCRIPTIONS[tag]
  group, _, name = tag.partition("/")
  return GROUP_DESCRIPTIONS[group].format(name=name) if name and group in GROUP_DESCRIPTIONS else ""


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


def gradient_norm_relative(layer_name):
  """'layer1' -> 'gradient_norm_relative/layer1': its gradient norm over the last layer's."""
  return f"gradient_norm_relative/{layer_name}"


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
