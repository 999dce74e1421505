"""SummaryCallback and the fit trainer: what model.fit writes, read back with TensorBoard's reader."""

import io
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from xor_tf import callbacks
from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import events
from xor_tf import experiment
from xor_tf import fit
from xor_tf import models
from xor_tf import summaries
from xor_tf import training

def event_files(directory):
  return tf.io.gfile.glob(os.path.join(str(directory), "events.out.tfevents.*"))


def user_model():
  """A user's functional model: default layer names, two hidden Dense layers of one shape."""
  inputs = keras.Input((2,))
  h = keras.layers.Dense(2, activation="tanh")(inputs)
  h = keras.layers.Dense(2, activation="tanh")(h)  # its kernel and bias shaped as the first's
  model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
  model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                metrics=["accuracy"])
  return model


def user_tags(model):
  dense = [layer.name for layer in model.layers[1:]]
  return {"loss", "accuracy", *(f"weights/{d}/{v}" for d in dense for v in ("kernel", "bias")),
          f"activations/{dense[0]}", f"activations/{dense[1]}", "activations/output"}


def fit_xor(model, callback_list, *, epochs):
  """Two optimizer steps per epoch: the four XOR points in batches of two."""
  model.fit(data.INPUTS, data.LABELS, batch_size=2, epochs=epochs, shuffle=False, verbose=0,
            callbacks=callback_list)


def test_fit_trainer_writes_the_step_trainers_record(tmp_path):
  # xor_tf's own model is written by summaries.observe, the step trainer's record: the same
  # tags, and at the same steps the same loss as the step trainer, which makes the same updates.
  # image_every=0: no pictures, so every tag is the record's.
  config = config_lib.Config(arch="keras", steps=25, log_every=10, optimizer="adam",
                             learning_rate=0.1, image_every=0)
  writer = tf.summary.create_file_writer(str(tmp_path))
  result = fit.train_with_fit(config, writer=writer)
  writer.close()
  written = events.read(str(tmp_path))
  net = models.build(config)
  observed = summaries.observe(net.apply, net.params, tf.constant(data.INPUTS),
                               tf.constant(data.LABELS), lambda lg, y: lg)
  assert set(written) == set(observed)
  for tag, entries in written.items():
    assert [step for step, _ in entries] == [0, 10, 20, 25], tag
  assert result.history["step"] == [0, 10, 20, 25] and result.step == 25
  reference = training.train(config).history
  assert reference["step"] == [0, 10, 20, 25]
  assert [float(v) for _, v in written["loss"]] == pytest.approx(reference["loss"], rel=1e-4)
  assert [float(v) for _, v in written["loss"]] == pytest.approx(result.history["loss"])
  assert dict(written["activations/output"])[25][:, 2].sum() == 4  # the four XOR inputs
  assert len(event_files(tmp_path)) == 1


def test_fit_runs_write_the_step_runs_tags_graph_and_pictures(tmp_path):
  # The same Keras model trained by both trainers: one tag set with one description and
  # dashboard per tag, the pictures at the same steps (at step 0, the same weights: the same
  # pixels), and a graph of what each ran.
  runs = {}
  for trainer in ("step", "fit"):
    config = config_lib.Config(arch="keras", hidden=(3, 2), steps=30, log_every=10,
                               image_every=20, trainer=trainer)
    experiment.run(config, logdir=str(tmp_path), run_name=trainer, out=io.StringIO(),
                   flag_lines=config_lib.flag_lines(config))
    runs[trainer] = events.accumulator(str(tmp_path / trainer))
  step_run, fit_run = runs["step"], runs["fit"]
  tags_of = {name: set(acc.Tags()["tensors"]) for name, acc in runs.items()}
  assert tags_of["fit"] == tags_of["step"]
  assert {"pictures/decision_boundary", "pictures/layer1", "pictures/layer2",
          "activations/layer2", "activations/output"} <= tags_of["fit"]
  assert "activations/layer3" not in tags_of["fit"]  # layer3 gives the logits: not an activation
  for tag in tags_of["step"]:
    ours, theirs = fit_run.SummaryMetadata(tag), step_run.SummaryMetadata(tag)
    assert (ours.plugin_data.plugin_name, ours.summary_description) == (
        theirs.plugin_data.plugin_name, theirs.summary_description), tag
  for tag in ("pictures/decision_boundary", "pictures/layer1"):
    assert [e.step for e in fit_run.Tensors(tag)] == [e.step for e in step_run.Tensors(tag)] == [
        0, 20, 30]
    first = [tf.io.decode_image(acc.Tensors(tag)[0].tensor_proto.string_val[2]).numpy()
             for acc in (step_run, fit_run)]
    np.testing.assert_array_equal(first[0][..., :3], first[1])
  names = [node.name for node in fit_run.Graph().node]
  for part in ("train_step/xor_keras", "layer1", "gradient_tape/", "train_step/sgd/"):
    assert any(part in name for name in names), part  # forward, gradients, update


def test_fit_runs_write_the_truth_table_at_every_picture_step(tmp_path):
  # The default picture steps (0, 10, 20, 30, 50) are logging steps of both trainers at
  # --log_every=5; the fit run logs at 5, 15, ... too, which draw nothing. The truth table
  # comes with the pictures, the last step's once, with the step run's text.
  results, runs = {}, {}
  for trainer in ("step", "fit"):
    config = config_lib.Config(arch="keras", steps=50, log_every=5, trainer=trainer)
    results[trainer], _ = experiment.run(config, logdir=str(tmp_path), run_name=trainer,
                                         out=io.StringIO())
    runs[trainer] = events.accumulator(str(tmp_path / trainer))
  step_run, fit_run = runs["step"], runs["fit"]
  tables = {name: [(e.step, tf.make_ndarray(e.tensor_proto).item().decode())
                   for e in acc.Tensors("run/truth_table")] for name, acc in runs.items()}
  picture_steps = [e.step for e in fit_run.Tensors("pictures/decision_boundary")]
  assert picture_steps == [0, 10, 20, 30, 50]
  assert [s for s, _ in tables["fit"]] == picture_steps == [s for s, _ in tables["step"]]
  assert [e.step for e in fit_run.Tensors("loss")] == list(range(0, 51, 5))  # logged, not drawn
  ours, theirs = (acc.SummaryMetadata("run/truth_table") for acc in (fit_run, step_run))
  assert ours == theirs
  assert ours.plugin_data.plugin_name == "text"
  # Step 0: the same weights, the same text; then the same rows up to the probabilities'
  # rounding (the trainers make the same updates, float32 apart).
  assert tables["fit"][0] == tables["step"][0]
  for (_, fit_text), (_, step_text) in zip(tables["fit"], tables["step"]):
    fit_rows, step_rows = (text.split("\n") for text in (fit_text, step_text))
    assert fit_rows[:2] == step_rows[:2] and len(fit_rows) == len(step_rows) == 6
    for fit_row, step_row in zip(fit_rows[2:], step_rows[2:]):
      fit_cells, step_cells = fit_row.split(" | "), step_row.split(" | ")
      assert fit_cells[:2] + fit_cells[3:] == step_cells[:2] + step_cells[3:]
      assert float(fit_cells[2]) == pytest.approx(float(step_cells[2]), abs=2e-4)
  assert tables["fit"][-1][1] == "\n".join(experiment.truth_table(results["fit"].probabilities))


def test_histograms_are_the_step_trainers_bucket_for_bucket():
  rng = np.random.default_rng(0)
  tensors = {"uniform": rng.uniform(-0.05, 0.05, (5000, 16)).astype(np.float32),
             "normal": rng.normal(size=(64, 32)).astype(np.float32),
             "ties": rng.integers(0, 7, (5, 300)).astype(np.float32),
             "constant": np.full((3, 3), 0.25, np.float32), "one": np.array([-2.0], np.float32)}
  assert tensors["uniform"].size > callbacks.LARGE_TENSOR >= tensors["normal"].size
  tensors["large constant"] = np.full(callbacks.LARGE_TENSOR + 1, -3.0, np.float32)
  # Values on bucket edges, k * 62 / 30 in float32: two of them fall in another bucket if
  # (x - lo) / width is computed as (x - lo) * (30 / (hi - lo)).
  tensors["edges"] = (np.arange(31) * (62.0 / 30)).astype(np.float32)
  tensors["large edges"] = np.resize(tensors["edges"], callbacks.LARGE_TENSOR + 1)
  reference = summaries.histograms({k: tf.constant(v) for k, v in tensors.items()})
  eager = callbacks.histograms({k: tf.constant(v) for k, v in tensors.items()})  # by NumPy
  # Traced as the callback traces it: without Grappler's rewrites, which change the edge
  # values' buckets.
  with callbacks.without_graph_rewrites():
    traced = tf.function(callbacks.histograms)({k: tf.constant(v) for k, v in tensors.items()})
  for key, value in tensors.items():
    for ours in (eager, traced):
      np.testing.assert_array_equal(ours[key].numpy(), reference[key].numpy(), err_msg=key)
      assert ours[key].numpy()[:, 2].sum() == value.size
  # A value that is not finite is left to TensorFlow's ops, whatever they make of it.
  infinite = {"inf": tf.constant([1.0, np.inf, 2.0])}
  assert callbacks.numpy_histogram(infinite["inf"].numpy()) is None
  np.testing.assert_array_equal(callbacks.histograms(infinite)["inf"],
                                summaries.histograms(infinite)["inf"])


def recurrent_layers():
  """Recurrent layers the probe pass steps cell by cell, in each of their call's shapes.

  Named, so that they leave Keras' automatic names ('lstm_1', ...) to the later tests.
  """
  lstm, gru, rnn = keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN
  return [
      lstm(5, return_sequences=True, name="l1"),
      lstm(5, go_backwards=True, return_sequences=True, name="l2"),
      lstm(5, return_state=True, use_bias=False, activation="relu", name="l3"),
      gru(5, return_sequences=True, name="g1"),
      gru(5, reset_after=False, go_backwards=True, name="g2"),
      rnn(5, return_sequences=True, return_state=True, name="s1"),
      keras.layers.Bidirectional(lstm(5, return_sequences=True, name="l4"), name="b1"),
      keras.layers.Bidirectional(lstm(5, name="l5"), merge_mode="ave", name="b2"),
      keras.layers.Bidirectional(gru(5, return_sequences=True, name="g3"), merge_mode="mul",
                                 name="b3"),
      keras.layers.Bidirectional(rnn(5, return_state=True, name="s2"), merge_mode=None,
                                 name="b4"),
      keras.layers.Bidirectional(lstm(5, return_sequences=True, return_state=True, name="l6"),
                                 merge_mode="sum", name="b5"),
  ]


@pytest.mark.parametrize("index", range(len(recurrent_layers())))
def test_recurrent_layers_stepped_by_their_cells_give_their_outputs_bit_for_bit(index):
  keras.utils.set_random_seed(index)
  layer = recurrent_layers()[index]
  rng = np.random.default_rng(index)
  x = tf.constant(rng.normal(size=(3, 7, 4)).astype(np.float32))
  layer.build(x.shape)
  # Random biases too (Keras starts them at 0 and 1, which hide a change of order).
  layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
  expected = layer(x, training=False)  # Keras' own loop
  stepped = callbacks._Stepped.of(layer, {})  # pylint: disable=protected-access
  assert stepped is not None and stepped.takes(x)
  # As the callback runs them: without Grappler's rewrites, which would reorder the sums.
  with callbacks.without_graph_rewrites():
    results = (stepped(x), callbacks._layer_call(layer)(x, training=False))  # pylint: disable=protected-access
  for ours in results:
    assert tf.nest.map_structure(lambda t: t.shape, ours) == tf.nest.map_structure(
        lambda t: t.shape, expected)
    for a, b in zip(tf.nest.flatten(ours), tf.nest.flatten(expected)):
      np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_lstms_of_one_shape_share_one_traced_step():
  x = tf.zeros((2, 3, 4))
  stack = [keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True, name=f"in{i}"),
                                      name=f"shared{i}") for i in range(3)]
  for layer in stack:
    x = layer(x)  # 4 features in, 2 + 2 out: one step's shapes for all three
  shared = {}
  x = tf.zeros((2, 3, 4))
  for layer in stack:
    x = callbacks._Stepped.of(layer, shared)(x)  # pylint: disable=protected-access
  callbacks._Stepped.of(stack[0], shared)(tf.zeros((2, 9, 4)))  # pylint: disable=protected-access
  assert len(shared) == 1  # nine steps or three: one step's shapes


def test_other_recurrent_layers_are_not_stepped():
  x = tf.zeros((2, 3, 4))
  stateful = keras.layers.LSTM(2, stateful=True, name="stateful")
  custom = keras.layers.RNN(keras.layers.LSTMCell(2, name="cell"), name="custom")  # Keras' loop
  for layer in (stateful, custom):
    layer(x)
    assert callbacks._Stepped.of(layer, {}) is None  # pylint: disable=protected-access
  layer = keras.layers.LSTM(2, name="plain")
  layer(x)
  stepped = callbacks._Stepped.of(layer, {})  # pylint: disable=protected-access
  assert not stepped.takes(tf.zeros((2, 3, 4), tf.float16))  # Keras' call would cast it
  assert not stepped.takes(tf.zeros((2, 0, 4)))  # no step


def test_user_model_same_shaped_layers_and_several_fits(tmp_path):
  keras.utils.set_random_seed(0)
  model = user_model()
  first, second = model.layers[1], model.layers[2]
  assert first.name != second.name and first.kernel.shape == second.kernel.shape
  callback = callbacks.SummaryCallback(tmp_path, log_every=3)
  # Epochs of 2 steps, shorter than log_every: a log at step 0 and at each epoch end.
  fit_xor(model, [callback], epochs=5)
  assert len(event_files(tmp_path)) == 1
  fit_xor(model, [callback], epochs=2)  # steps 11..14 continue the count
  written = events.read(str(tmp_path))
  assert set(written) == user_tags(model)
  for tag, entries in written.items():
    expected = [0, 2, 4, 6, 8, 10, 12, 14] if "/" in tag else [2, 4, 6, 8, 10, 12, 14]
    assert [step for step, _ in entries] == expected, tag
  assert callback.step == 14
  assert len(event_files(tmp_path)) == 2  # the writer is closed at the end of each fit
  # Each same-shaped layer's histogram is its own kernel's, not the other's.
  for layer in (first, second):
    np.testing.assert_allclose(dict(written[f"weights/{layer.name}/kernel"])[14],
                               summaries.histogram_buckets(layer.kernel.value).numpy(), rtol=1e-6)


def test_beside_keras_tensorboard_callback(tmp_path):
  keras.utils.set_random_seed(0)
  model = user_model()
  # Keras' callback first: its record_if(step % 5 == 0) is in force when ours writes.
  keras_tb = keras.callbacks.TensorBoard(str(tmp_path), update_freq=5, histogram_freq=1)
  fit_xor(model, [keras_tb, callbacks.SummaryCallback(tmp_path, log_every=2)], epochs=5)
  ours = events.read(str(tmp_path))
  assert set(ours) == user_tags(model)
  assert [step for step, _ in ours["loss"]] == [2, 4, 6, 8, 10]
  theirs = events.read(str(tmp_path / "train"))
  assert "epoch_loss" in theirs
  assert not set(theirs) & set(ours)
  assert len(event_files(tmp_path)) == 1 and len(event_files(tmp_path / "train")) == 1


def test_nothing_logged_writes_no_file(tmp_path):
  model = user_model()
  callback = callbacks.SummaryCallback(tmp_path / "run", log_every=2)
  fit_xor(model, [callback], epochs=0)
  model.evaluate(data.INPUTS, data.LABELS, verbose=0, callbacks=[callback])
  assert not (tmp_path / "run").exists()


def test_layers_that_cannot_be_probed_are_skipped(tmp_path):
  class Subclassed(keras.Model):
    def __init__(self):
      super().__init__()
      self.hidden = keras.layers.Dense(3, activation="sigmoid")
      self.dropout = keras.layers.Dropout(0.1)
      self.out = keras.layers.Dense(1, activation="sigmoid")

    def call(self, x, training=False):
      return self.out(self.dropout(self.hidden(x), training=training))

  model = Subclassed()
  model.compile(optimizer="sgd", loss="mse", metrics=["binary_accuracy"])
  fit_xor(model, [callbacks.SummaryCallback(tmp_path / "sub", log_every=2)], epochs=1)
  names = [model.hidden.name, model.out.name]
  assert set(events.read(str(tmp_path / "sub"))) == {
      "loss", "accuracy", "activations/output",
      *(f"weights/{n}/{v}" for n in names for v in ("kernel", "bias"))}
  # A probe the model cannot take: activations skipped with a warning, the rest written.
  model = user_model()
  with pytest.warns(UserWarning, match=r"activations left out: the probe batch does not fit "
                    r"the model's inputs: expected float32 \(None, 2\); received float32 \(4, 3\)"):
    fit_xor(model, [callbacks.SummaryCallback(tmp_path / "bad", log_every=2,
                                              probe=np.zeros((4, 3), np.float32))], epochs=1)
  assert {t for t in events.read(str(tmp_path / "bad")) if t.startswith("activations/")} == set()


def test_nested_layers_and_a_layer_named_output_get_unique_tags():
  inputs = keras.Input((2,))
  h = keras.layers.Dense(3, name="output")(inputs)  # not the model's output
  block = keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(3)], name="block")
  h = block(h)
  model = keras.Model(inputs, keras.layers.Dense(1, name="last")(h))
  inner = [layer.name for layer in block.layers]
  assert set(callbacks.named_weights(model)) == {
      *(f"weights/{n}/{v}" for n in ("output", "last", *(f"block/{d}" for d in inner))
        for v in ("kernel", "bias"))}
  forward = callbacks.activation_function(model, data.INPUTS, warn=None)
  record = forward()
  # The block's last layer's output is the block's: written once, under the block's name.
  assert set(record) == {"activations/output_1", f"activations/block/{inner[0]}",
                         "activations/block", "activations/output"}
  np.testing.assert_allclose(record["activations/block"], block(model.layers[1](data.INPUTS)),
                             rtol=1e-6)
  np.testing.assert_allclose(record["activations/output"], model(data.INPUTS), rtol=1e-6)


@pytest.mark.parametrize("kwargs, received", [
    (dict(logdir="logs", log_every=0), "received 0"),
    (dict(logdir="logs", log_every="10"), "received '10'"),
    (dict(logdir="logs", log_every=True), "received True"),
    (dict(), "received logdir=None, writer=None"),
    (dict(logdir="", log_every=5), "received ''"),
])
def test_bad_arguments_say_what_was_received(kwargs, received):
  with pytest.raises(ValueError, match=received):
    callbacks.SummaryCallback(**kwargs)


def test_fit_trainer_rejects_other_archs():
  with pytest.raises(ValueError, match="received arch 'deep'"):
    fit.train_with_fit(config_lib.Config(arch="deep", steps=1))


def test_fit_makes_the_train_steps_updates():
  # Adam, with BCE through the probabilities: the update with the most parts to get wrong.
  config = config_lib.Config(arch="keras", steps=30, log_every=10, optimizer="adam",
                             loss="bce", learning_rate=0.1)
  ours, theirs = fit.train_with_fit(config), training.train(config)
  np.testing.assert_allclose(ours.probabilities, theirs.probabilities, rtol=1e-4, atol=1e-6)
  assert ours.loss == pytest.approx(theirs.loss, rel=1e-4)


def test_fit_trainer_learns_xor_at_defaults():
  result = fit.train_with_fit(config_lib.Config(arch="keras"))
  assert result.accuracy == 1.0
  np.testing.assert_array_equal(result.labels, [0, 1, 1, 0])


def test_example_script_runs(tmp_path):
  env = dict(os.environ, PYTHONPATH=REPO)
  done = subprocess.run(
      [sys.executable, os.path.join(REPO, "scripts", "keras_callback_example.py"),
       "--logdir", str(tmp_path), "--epochs", "5"],
      capture_output=True, text=True, env=env, timeout=120, check=False)
  assert done.returncode == 0, done.stderr
  assert f"tensorboard --logdir {tmp_path}" in done.stdout
  (run_dir,) = tmp_path.iterdir()
  assert {"loss", "accuracy", "activations/output"} <= set(events.read(str(run_dir)))
  assert "epoch_loss" in events.read(str(run_dir / "train"))


def test_example_script_rejects_a_logdir_below_a_file(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  logdir = blocker / "run"
  env = dict(os.environ, PYTHONPATH=REPO)
  done = subprocess.run(
      [sys.executable, os.path.join(REPO, "scripts", "keras_callback_example.py"),
       f"--logdir={logdir}", "--epochs=1"],
      capture_output=True, text=True, env=env, timeout=120, check=False)
  assert done.returncode == 2
  assert done.stderr.splitlines() == [
      f"keras_callback_example: --logdir expects a directory (existing or to create); "
      f"received {str(logdir)!r}, where {str(blocker)!r} is a file"]
  assert done.stdout == "" and blocker.read_text() == "not a directory"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
