"""xor_tf: how a neural network learns XOR, in TensorFlow 2 and TensorBoard.

From Python or a notebook, `xor_tf.train(arch="deep", seed=3)` trains one run and returns an
`xor_tf.Run` (`xor_tf.api`): the keyword arguments are `python -m xor_tf.train`'s flags.

`xor_tf.train` is the command line's module, `python -m xor_tf.train`, made callable: importing
a submodule sets the package's attribute of that name to the module, which would hide a
function called `train`. So the name is the module in every order of imports, loaded when
first asked for (here, through `__getattr__`), and calling it calls `xor_tf.api.train`.
"""

import importlib

# Nothing is imported here eagerly: a user's new table entry (an activation, an optimizer) added
# before `xor_tf.config` is first imported must reach the flags' choices.
__all__ = ["Run", "train"]


def __getattr__(name):
  if name == "train":  # the submodule, callable; imported here when first asked for
    return importlib.import_module("xor_tf.train")
  if name == "Run":
    return importlib.import_module("xor_tf.api").Run
  raise AttributeError(f"module 'xor_tf' has no attribute {name!r}")


def __dir__():
  return sorted({*globals(), "train"})
