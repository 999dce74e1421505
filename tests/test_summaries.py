"""What a run writes, read back with TensorBoard's own event reader."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.histogram import summary_v2 as tb_histogram
from tensorboard.util import tensor_util

from xor_tf import config as config_lib
from xor_tf import events
from xor_tf import summaries
from xor_tf import training

EXPECTED_TAGS = {
    "deep": {"loss", "accuracy",
             *(f"weights/layer{i}/{v}" for i in range(1, 5) for v in ("kernel", "bias")),
             "activations/layer1", "activations/layer2", "activations/layer3",
             "activations/output"},
    "concat": {"loss", "accuracy",
               *(f"weights/unit{i}/{v}" for i in range(1, 4) for v in ("kernel", "bias")),
               "activations/unit1", "activations/unit2", "activations/output"},
    "logistic": {"loss", "accuracy", "weights/layer1/kernel", "weights/layer1/bias",
                 "activations/output"},
}
EXPECTED_TAGS["keras"] = EXPECTED_TAGS["deep"]
PICTURES = {
    "deep": {"pictures/layer1", "pictures/layer2", "pictures/layer3", "pictures/decision_boundary",
             "pictures/hidden_space"},
    "concat": {"pictures/unit1", "pictures/unit2", "pictures/decision_boundary",
               "pictures/hidden_space"},
    "logistic": {"pictures/decision_boundary"},
}
PICTURES["keras"] = PICTURES["deep"]
PICTURES = {arch: tags | {"run/truth_table"} for arch, tags in PICTURES.items()}  # drawn alike


def train_into(tmp_path, **kw):
  config = config_lib.Config(**kw)
  writer = tf.summary.create_file_writer(str(tmp_path))
  result = training.train(config, writer=writer)
  writer.close()
  return result, events.read(str(tmp_path))


@pytest.mark.parametrize("arch", sorted(EXPECTED_TAGS))
def test_exact_tags_and_steps(tmp_path, arch):
  result, written = train_into(tmp_path, arch=arch, steps=250, log_every=100, image_every=200)
  assert set(written) == EXPECTED_TAGS[arch] | PICTURES[arch]
  for tag, entries in written.items():
    # Pictures at the logging steps that are multiples of image_every, and the last.
    expected = [0, 200, 250] if tag in PICTURES[arch] else [0, 100, 200, 250]
    assert [step for step, _ in entries] == expected, tag
  assert [float(v) for _, v in written["loss"]] == pytest.approx(result.history["loss"])
  assert len(tf.io.gfile.glob(str(tmp_path / "events.out.tfevents.*"))) == 1


def test_default_pictures_are_dense_early_and_logged_with_a_truth_table(tmp_path):
  from xor_tf import experiment
  result, written = train_into(tmp_path, arch="nn", steps=2500, log_every=1000)
  picture_steps = [0, 10, 20, 30, 50, 70, 100, 200, 300, 500, 700, 1000, 2000, 2500]
  assert [s for s, _ in written["pictures/decision_boundary"]] == picture_steps
  assert [s for s, _ in written["run/truth_table"]] == picture_steps
  # Picture steps are logging steps: the curve has them, beside the multiples of --log_every.
  assert [s for s, _ in written["loss"]] == picture_steps == result.history["step"]
  assert written["run/truth_table"][-1][1].item().decode() == "\n".join(
      experiment.truth_table(result.probabilities))
  config = config_lib.Config(arch="nn", steps=2500, log_every=1000)
  assert [s for s in range(2501) if training.is_picture_step(s, config)] == picture_steps
  assert [s for s in range(2501) if training.is_logging_step(s, config)] == picture_steps


def test_image_every_sets_a_fixed_interval_that_logs_too(tmp_path):
  _, written = train_into(tmp_path, arch="nn", steps=250, log_every=100, image_every=75)
  assert [s for s, _ in written["pictures/decision_boundary"]] == [0, 75, 150, 225, 250]
  assert [s for s, _ in written["loss"]] == [0, 75, 100, 150, 200, 225, 250]


def test_histograms_are_tensorboards_and_show_the_final_weights(tmp_path):
  from xor_tf import models
  config = config_lib.Config(arch="nn", steps=30, log_every=10)
  _, written = train_into(tmp_path, arch="nn", steps=30, log_every=10, image_every=0)
  step0 = dict(written["weights/layer1/kernel"])[0]
  initial = models.build(config).params["layer1/kernel"].numpy()  # the seed decides it
  expected = tensor_util.make_ndarray(tb_histogram.histogram_pb("t", initial).value[0].tensor)
  np.testing.assert_allclose(step0, expected, rtol=1e-6)
  output = dict(written["activations/output"])[30]
  assert output.shape == (summaries.BUCKETS, 3) and output[:, 2].sum() == 4


@pytest.mark.parametrize("values", [np.random.RandomState(0).randn(37), np.full(5, 0.25),
                                    np.array([1.0, 2.0])])
def test_bucket_layout_matches_tensorboard(values):
  ours = summaries.histogram_buckets(tf.constant(values, tf.float32)).numpy()
  theirs = tensor_util.make_ndarray(
      tb_histogram.histogram_pb("t", values.astype(np.float32)).value[0].tensor)
  np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


def test_no_pictures_when_image_every_is_zero(tmp_path):
  _, written = train_into(tmp_path, arch="nn", steps=20, log_every=10, image_every=0)
  assert not any(tag.startswith("pictures/") for tag in written)


def test_pictures_are_images_of_what_the_network_computes(tmp_path):
  from xor_tf import models, pictures
  config = config_lib.Config(arch="nn", steps=20, log_every=10, image_every=10)
  result, written = train_into(tmp_path, arch="nn", steps=20, log_every=10, image_every=10)
  assert [step for step, _ in written["pictures/decision_boundary"]] == [0, 10, 20]
  net = models.build(config)
  for param, value in zip(net.params.values(), _final_weights(config)):
    param.assign(value)
  # Drawn here from `apply` on [N, 2] points, not the loop's `apply_columns` path.
  logits, activations = net(pictures.grid_points())
  drawn = {"output": pictures.decision_boundary(None, logits=logits),
           "layer1": pictures.neuron_heatmaps(activations["layer1"])}
  for tag, name in (("pictures/decision_boundary", "output"), ("pictures/layer1", "layer1")):
    width, height, image = written[tag][-1][1]
    decoded = tf.io.decode_png(image, channels=3).numpy()  # the PNG the loop wrote
    assert decoded.shape == (int(height), int(width), 3) and int(width) >= 16, tag
    expected = drawn[name][0].numpy()
    # XLA may fuse the float arithmetic differently: a colour may round one step apart.
    assert np.abs(decoded.astype(int) - expected.astype(int)).max() <= 1, tag
  assert int(written["pictures/decision_boundary"][-1][1][0]) >= 64


def _final_weights(config):
  """The weights after config.steps steps, trained again without a writer."""
  loop = training.create(config)
  training.train(config, loop=loop)
  return [v.numpy() for v in loop.net.params.values()]


@pytest.mark.parametrize("image_every", [0, None])  # None: picture steps 10, 20, 30 log too
def test_diagnostics_match_a_per_step_reference(tmp_path, image_every):
  from xor_tf import data, models, optim
  from xor_tf import step as step_lib
  config = config_lib.Config(arch="nn", steps=35, log_every=100, image_every=image_every,
                             diagnostics=True)
  _, written = train_into(tmp_path, **dataclasses.asdict(config))
  layers = ("layer1", "layer2")
  assert {f"gradient_norm/{l}" for l in layers} | {f"sign_changes/{l}" for l in layers} | {
      f"gradients/{l}/{v}" for l in layers for v in ("kernel", "bias")} | {
          "sign_changes/total"} <= set(written)
  # The notebook's way, one eager step at a time: count updates whose direction flipped.
  net = models.build(config)
  opt = optim.Optimizer(config.optimizer, config.hyperparameters, net.params)
  state = {"params": {k: tf.convert_to_tensor(v) for k, v in net.params.items()}, "slots": {},
           "step": tf.constant(0, tf.int64)}
  x, y = tf.constant(data.INPUTS), tf.constant(data.LABELS)
  _, grads = step_lib.tape_gradients(net, state["params"], x, y, config.loss)
  norm = np.sqrt(sum(np.sum(grads[f"layer1/{v}"].numpy() ** 2) for v in ("kernel", "bias")))
  assert float(dict(written["gradient_norm/layer1"])[0]) == pytest.approx(norm, rel=1e-5)
  previous, flips, expected = None, 0, {}
  for step in range(1, 36):
    new, _ = step_lib.train_step(net, opt, state, x, y, config.loss)
    up = {k: (new["params"][k] - state["params"][k]).numpy() > 0 for k in state["params"]}
    if previous is not None:
      flips += sum(int(np.sum(up[k] != previous[k])) for k in up)
    previous, state = up, new
    if training.is_logging_step(step, config):
      expected[step], flips = flips, 0
  logged = {step: float(v) for step, v in written["sign_changes/total"]}
  assert logged == {0: 0.0, **expected}
  assert list(expected) == ([35] if image_every == 0 else [10, 20, 30, 35])
  assert sum(expected.values()) > 0  # the test sees real flips, so it can fail
