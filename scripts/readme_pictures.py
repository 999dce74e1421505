"""Draws the README's pictures into docs/: the saved pictures of a few default runs.

    python scripts/readme_pictures.py

Each run trains exactly as `python -m xor_tf.train --arch=... --seed=...` does (its defaults,
no event files) and its final pictures are drawn as the run saves them (`xor_tf.pictures`, PNG
at twice the size TensorBoard gets):

  docs/decision_boundary_deep.png      --arch=deep (seed 1): learns XOR
  docs/decision_boundary_logistic.png  --arch=logistic: cannot
  docs/decision_boundary_nn_stuck.png  --arch=nn --seed=0: stuck
  docs/hidden_space_solved.png         --arch=nn --seed=1: the hidden layer's view, solved
  docs/hidden_space_stuck.png          --arch=nn --seed=0: the same, stuck
"""

import os
import sys

import tensorflow as tf

from xor_tf import config as config_lib
from xor_tf import pictures
from xor_tf import tags
from xor_tf import training

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs")
RUNS = {  # (arch, seed) -> {picture: file}
    ("deep", 1): {tags.OUTPUT: "decision_boundary_deep.png"},
    ("logistic", 1): {tags.OUTPUT: "decision_boundary_logistic.png"},
    ("nn", 0): {tags.OUTPUT: "decision_boundary_nn_stuck.png",
                tags.HIDDEN_SPACE: "hidden_space_stuck.png"},
    ("nn", 1): {tags.HIDDEN_SPACE: "hidden_space_solved.png"},
}


def main():
  for (arch, seed), files in RUNS.items():
    config = config_lib.Config(arch=arch, seed=seed)
    loop = training.create(config)
    result = training.train(config, loop=loop)
    net = loop.net
    drawn = pictures.draw(net.apply_columns,
                          {k: tf.convert_to_tensor(v) for k, v in net.params.items()},
                          value_range=net.activation.picture_range)
    for name, file in files.items():
      with open(os.path.join(DOCS, file), "wb") as f:
        f.write(pictures.png(drawn[name], scale=2))
    print(f"{arch} seed {seed}: loss {result.history['loss'][-1]:.6f} -> "
          f"{', '.join(files.values())}", file=sys.stdout)


if __name__ == "__main__":
  main()
