"""xor_tf.train(...) from Python, as a notebook calls it: the result, its Jupyter views, its errors."""

import base64
import html
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
import xor_tf
from xor_tf import api
from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import events
from xor_tf import rundir
from xor_tf import training


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  logdir = tmp_path_factory.mktemp("api") / "logs"
  return xor_tf.train(arch="nn", hidden=(3,), steps=300, log_every=100, image_every=100,
                      logdir=logdir, run_name="notebook")


def test_result_is_the_trained_networks(run):
  assert os.path.basename(run.run_dir) == "notebook" and os.path.isdir(run.run_dir)
  assert run.config == config_lib.Config(arch="nn", hidden=(3,), steps=300, log_every=100,
                                         image_every=100)
  # The network the run's last checkpoint holds, through its own forward pass.
  loop = training.create(run.config)
  loop.checkpoint().restore(rundir.latest_checkpoint(run.run_dir)).assert_existing_objects_matched()
  probabilities = loop.net(tf.constant(data.INPUTS))[1]["output"].numpy().reshape(-1)
  np.testing.assert_allclose([row[2] for row in run.truth_table], probabilities, atol=1e-6)
  for (x1, x2, p, label, target), x, y in zip(run.truth_table, data.INPUTS, data.LABELS[:, 0]):
    assert (x1, x2, target) == (int(x[0]), int(x[1]), int(y)) and label == int(p > 0.5)
  assert run.history["step"] == [0, 100, 200, 300] and run.step == 300
  written = events.read(run.run_dir)
  assert [float(v) for _, v in written["loss"]] == pytest.approx(run.history["loss"])
  assert run.loss == run.history["loss"][-1] and run.accuracy == run.history["accuracy"][-1]
  assert run.report.splitlines()[0].startswith("xor_tf: nn-2-3-1")  # kept, not printed


def _png_pixels(png_bytes):
  return tf.io.decode_png(png_bytes).numpy()


def test_jupyter_views_show_the_truth_table_and_pictures(run):
  page = run._repr_html_()
  for x1, x2, p, label, target in run.truth_table:
    assert f"<tr><td>{x1}</td><td>{x2}</td><td>{p:.4f}</td><td>{label}</td><td>{target}</td></tr>" in page
  uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
  saved = os.path.join(run.run_dir, "decision_boundary.png")
  with open(saved, "rb") as f:
    expected = _png_pixels(f.read())
  assert len(uris) == len(run.pictures) >= 1
  first = _png_pixels(base64.b64decode(uris[0]))
  np.testing.assert_array_equal(first, expected)  # the decision boundary comes first
  assert html.escape(run.run_dir) in page
  np.testing.assert_array_equal(_png_pixels(run._repr_png_()), expected)
  text = repr(run)
  assert text.splitlines()[0].startswith("xor_tf run nn-2-3-1") and run.run_dir in text
  for x1, x2, p, _, _ in run.truth_table:
    assert f" {x1}  {x2}       {p:.4f}" in text


@pytest.mark.parametrize("kwargs, error, expected", [
    (dict(arch="dep"), ValueError, "Unknown arch 'dep'; expected one of: concat, deep, keras"),
    (dict(arhc="nn"), TypeError, "received arhc='nn' (did you mean arch?)"),
    (dict(steps="10"), ValueError, "steps expects an integer from 1 to 1e+15; received '10'."),
    (dict(hidden=(3, 0)), ValueError, "hidden expects comma-separated positive integers"),
    (dict(diagnostics="yes"), ValueError, "diagnostics expects True or False; received 'yes'."),
    (dict(trainer="fit"), ValueError, "trainer=fit is expected with arch=keras"),
    (dict(verbose=1), ValueError, "verbose expects True or False; received 1."),
    (dict(run_name="a/b"), ValueError, "run_name expects a non-empty directory name"),
])
def test_bad_keyword_arguments_raise_one_line(tmp_path, kwargs, error, expected):
  logdir = tmp_path / "logs"
  with pytest.raises(error) as raised:
    xor_tf.train(logdir=logdir, **kwargs)
  message = str(raised.value)
  assert expected in message and "\n" not in message and "--" not in message
  assert not logdir.exists()  # nothing written


def test_numpy_scalars_are_their_values(tmp_path):
  config, _ = api.check_arguments(dict(seed=np.arange(5)[3], learning_rate=np.float32(0.5),
                                       diagnostics=np.bool_(True), logdir=tmp_path))
  assert (config.seed, config.learning_rate, config.diagnostics) == (3, 0.5, True)
  assert type(config.seed) is int and type(config.learning_rate) is float


def test_options_have_the_command_lines_defaults():
  code = ("from absl import flags\nimport xor_tf.train\nfrom xor_tf import api\n"
          "print(all(flags.FLAGS[n].default == d for n, d in api.OPTIONS.items()))\n"
          "print(sorted(api.setting_names()) == sorted(xor_tf.train._SETTINGS))")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                        check=False)
  assert proc.stdout.split() == ["True", "True"], proc.stderr


@pytest.mark.parametrize("first", ["import xor_tf", "import xor_tf.train",
                                   "from xor_tf import train"])
def test_xor_tf_train_is_callable_in_every_import_order(first):
  # The call reaches the API (its own error), and TensorFlow is not imported for a bad one.
  code = (f"import sys\n{first}\nimport xor_tf\nfrom xor_tf import train\n"
          "assert train is xor_tf.train and callable(train) and train.parse_flags\n"
          "try:\n  xor_tf.train(arch='dep')\nexcept ValueError as e:\n  print(e)\n"
          "print('tensorflow' in sys.modules)")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                        check=False)
  assert proc.stdout.splitlines() == [
      "Unknown arch 'dep'; expected one of: concat, deep, keras, logistic, nn.", "False"], proc.stderr
