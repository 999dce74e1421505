"""How many of seeds 0-19 solve XOR at the default flags, per architecture (the README's table).

Each seed is a full single run through `xor_tf.training.train`, exactly as the CLI trains it.
Usage: python scripts/seed_census.py [--seeds=20] [--archs=logistic,concat,nn,deep,keras]
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from xor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
from xor_tf import quiet  # pylint: disable=g-import-not-at-top

from xor_tf import cli  # pylint: disable=g-import-not-at-top

_SEEDS = flags.DEFINE_integer("seeds", 20, "Seeds 0 .. seeds-1 are trained.", lower_bound=1,
                              upper_bound=1_000_000)
_ARCHS = flags.DEFINE_list("archs", list(config_lib.ARCHS), "Architectures to census.")
flags.register_validator(
    "archs", lambda archs: bool(archs) and all(a in config_lib.ARCHS for a in archs),
    message=f"expected a comma-separated list of: {', '.join(config_lib.ARCHS)}")


def main(argv):
  del argv
  quiet.import_tensorflow()
  from xor_tf import training  # pylint: disable=g-import-not-at-top

  defaults = config_lib.Config()
  print(f"defaults: {defaults.optimizer} learning_rate={defaults.learning_rate:g} "
        f"init={defaults.init} loss={defaults.loss} steps={defaults.steps}")
  print("| arch | shape | seeds solved | stuck seeds | final loss of the stuck |")
  print("|---|---|---|---|---|")
  for arch in _ARCHS.value:
    solved, stuck = 0, []
    for seed in range(_SEEDS.value):
      config = dataclasses.replace(defaults, arch=arch, seed=seed, log_every=defaults.steps)
      result = training.train(config)
      if result.accuracy == 1.0:
        solved += 1
      else:
        stuck.append((seed, result.loss))
    losses = ", ".join(f"{loss:.4f}" for _, loss in stuck[:6]) + (" …" if len(stuck) > 6 else "")
    print(f"| {arch} | {config.shape} | {solved}/{_SEEDS.value} | "
          f"{', '.join(str(s) for s, _ in stuck) or '—'} | {losses or '—'} |", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser("seed_census.py"))
