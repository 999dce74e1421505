"""Your own Keras model, trained with model.fit, logged for TensorBoard by xor_tf's SummaryCallback.

Run from the repository: python scripts/keras_callback_example.py [--logdir logs]
"""

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from xor_tf import quiet

quiet.import_tensorflow()  # TensorFlow's native start-up notices stay out of the output

import keras
import numpy as np

from xor_tf.callbacks import SummaryCallback


def noisy_xor(n, *, noise, seed):
  """n points scattered around the four XOR corners, labelled by their corner's XOR."""
  rng = np.random.default_rng(seed)
  corners = rng.integers(0, 2, size=(n, 2))
  x = (corners + rng.normal(0.0, noise, size=(n, 2))).astype(np.float32)
  y = (corners[:, :1] ^ corners[:, 1:]).astype(np.float32)
  return x, y


def build_model():
  """A functional model with default layer names: two same-shaped hidden layers, one output."""
  inputs = keras.Input((2,))
  h = keras.layers.Dense(8, activation="tanh")(inputs)
  h = keras.layers.Dense(8, activation="tanh")(h)
  outputs = keras.layers.Dense(1, activation="sigmoid")(h)
  return keras.Model(inputs, outputs)


def bad_arguments(args):
  """What is wrong with the arguments, as 'expected ...; received ...', or None."""
  if args.epochs < 1:
    return f"--epochs expects an integer >= 1; received {args.epochs}"
  path = os.path.abspath(args.logdir)
  while not os.path.exists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  if not os.path.isdir(path):
    return (f"--logdir expects a directory (existing or to create); received {args.logdir!r}, "
            f"where {path!r} is a file")
  if not os.access(path, os.W_OK):
    return f"--logdir expects a directory it can write; received {args.logdir!r}"
  return None


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--logdir", default="logs", help="directory that holds run directories")
  parser.add_argument("--epochs", type=int, default=40, help="passes over the 256 points")
  args = parser.parse_args()
  problem = bad_arguments(args)
  if problem:
    print(f"keras_callback_example: {problem}", file=sys.stderr)
    sys.exit(2)

  keras.utils.set_random_seed(0)
  x, y = noisy_xor(256, noise=0.15, seed=0)
  model = build_model()
  model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy",
                metrics=["accuracy"])

  run_dir = os.path.join(args.logdir, datetime.datetime.now().strftime("keras_example-%Y%m%d-%H%M%S"))
  model.fit(x, y, batch_size=32, epochs=args.epochs, validation_split=0.25, verbose=0,
            callbacks=[
      # Ours writes run_dir/events.*: loss, accuracy, weight and activation histograms at
      # step 0 and every 20 steps, or at each epoch end when an epoch is shorter (here: 6
      # steps); activations on the first 16 training points; validation loss and accuracy
      # into run_dir/validation.
      SummaryCallback(run_dir, log_every=20),
      # Keras' own writes per-epoch scalars into run_dir/train and run_dir/validation, under
      # other tags (epoch_loss, ...): the two do not collide.
      keras.callbacks.TensorBoard(run_dir, histogram_freq=0),
  ])

  corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
  print("probabilities on the XOR corners:", np.round(model.predict(corners, verbose=0)[:, 0], 3))
  print(f"logs written to {run_dir}")
  print(f"open them: tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
  main()
