"""Predict with an exported run: `python -m xor_tf.predict --model=<run dir>/saved_model 0,1 1,1`."""

from absl import app
from absl import flags

from xor_tf import cli
from xor_tf import quiet

_MODEL = flags.DEFINE_string("model", None, "A SavedModel directory written by "
                             "`python -m xor_tf.train --export` (<run dir>/saved_model).")


def parse_point(text):
  """'0,1' -> (0.0, 1.0). Raises ValueError naming what was received."""
  try:
    x1, x2 = (float(v) for v in text.split(","))
  except ValueError:
    raise ValueError(f"points are expected as x1,x2 such as 0,1; received {text!r}.") from None
  return x1, x2


def main(argv):
  points = argv[1:] or ["0,0", "0,1", "1,0", "1,1"]
  try:
    if not _MODEL.value:
      raise ValueError("--model is expected: a SavedModel directory; received none.")
    parsed = [parse_point(p) for p in points]
  except ValueError as e:
    cli.fail("xor_tf.predict", str(e))
  tf = quiet.import_tensorflow()
  from xor_tf import export  # pylint: disable=g-import-not-at-top

  try:
    serve = export.load(_MODEL.value)
    out = serve(points=tf.constant(parsed, tf.float32))
    probabilities, labels = out["probability"].numpy(), out["label"].numpy()
  except Exception as e:  # pylint: disable=broad-except (a damaged SavedModel raises many kinds)
    cli.fail("xor_tf.predict", f"--model expects a SavedModel written by xor_tf; received "
                               f"{_MODEL.value!r}, which could not be used: {type(e).__name__}: "
                               f"{cli.one_line(e)[:200]}")
  print("| x1 | x2 | probability | label |")
  print("|---|---|---|---|")
  for (x1, x2), p, label in zip(parsed, probabilities, labels):
    print(f"| {x1:g} | {x2:g} | {p:.4f} | {label} |")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser("xor_tf.predict", positional=True))
