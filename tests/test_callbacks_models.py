"""SummaryCallback on keras-io-shaped models: exact tags, true steps, activations checked by hand."""

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import callback_models as cm
from xor_tf import callbacks
from xor_tf import data
from xor_tf import events
from xor_tf import summaries


def steps_of(written):
  """{tag: [steps]} of a run read back."""
  return {tag: [step for step, _ in entries] for tag, entries in written.items()}


def at(written, tag, step):
  return dict(written[tag])[step]


def assert_histogram_of(written, tag, step, values):
  """The histogram written under `tag` at `step` is the one of `values`, bucket for bucket."""
  np.testing.assert_allclose(at(written, tag, step),
                             summaries.histogram_buckets(tf.constant(values)).numpy(),
                             rtol=1e-5, atol=1e-6)


def fit_quietly(model, *args, **kwargs):
  """model.fit, returning (history, the SummaryCallback warnings)."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    history = model.fit(*args, verbose=0, **kwargs)
  return history, [str(w.message) for w in caught if "SummaryCallback" in str(w.message)]


def test_transfer_model_with_a_nested_frozen_base(tmp_path):
  keras.utils.set_random_seed(0)
  model = cm.transfer()
  x, y = cm.transfer_data()
  # Default log_every (100) is longer than an epoch (4 steps): a log at each epoch end.
  callback = callbacks.SummaryCallback(tmp_path)
  history, warned = fit_quietly(model, x, y, batch_size=8, epochs=3, shuffle=False,
                                validation_data=cm.transfer_data(16, seed=1), callbacks=[callback])
  assert warned == []
  written = events.read(str(tmp_path))
  histograms = {
      "weights/base/conv/kernel", "weights/base/conv/bias", "weights/base/bn/gamma",
      "weights/base/bn/beta", "weights/base/bn/moving_mean", "weights/base/bn/moving_variance",
      "weights/head/kernel", "weights/head/bias",
      "activations/rescale", "activations/base/conv", "activations/base/bn", "activations/base",
      "activations/dropout", "activations/output"}
  assert steps_of(written) == {**{t: [0, 4, 8, 12] for t in histograms},
                               "loss": [4, 8, 12], "accuracy": [4, 8, 12]}
  assert [float(v) for _, v in written["loss"]] == pytest.approx(history.history["loss"])
  validation = events.read(str(tmp_path / "validation"))
  assert steps_of(validation) == {"loss": [4, 8, 12], "accuracy": [4, 8, 12]}
  assert [float(v) for _, v in validation["accuracy"]] == pytest.approx(
      history.history["val_binary_accuracy"])
  # The probe is the first 16 training examples; the base is frozen, in inference mode.
  base = model.get_layer("base")
  assert_histogram_of(written, "activations/base", 12, base(x[:16] / 255.0, training=False))
  assert_histogram_of(written, "activations/output", 12, model(x[:16], training=False))
  assert_histogram_of(written, "weights/head/kernel", 12, model.get_layer("head").kernel)


def test_gan_with_its_own_compile_and_two_optimizers(tmp_path):
  keras.utils.set_random_seed(0)
  model = cm.gan()
  dataset, images = cm.gan_data(n=16, batch=4)
  callback = callbacks.SummaryCallback(tmp_path, log_every=2)
  _, warned = fit_quietly(model, dataset, epochs=2, callbacks=[callback])
  # model.optimizer is Keras' default and never steps; the GAN's own two step once a batch.
  assert int(model.optimizer.iterations.numpy()) == 0
  assert int(model.d_optimizer.iterations.numpy()) == int(model.g_optimizer.iterations.numpy()) == 8
  assert callback.step == 8
  # The generator takes latent vectors, not the images of the data: left out, with one warning.
  assert len(warned) == 1 and "activations of generator (expected float32 (None, 3)" in warned[0]
  written = events.read(str(tmp_path))
  histograms = {
      *(f"weights/discriminator/{l}/{v}" for l in ("d_conv", "d_out") for v in ("kernel", "bias")),
      *(f"weights/generator/{l}/{v}" for l in ("g_dense", "g_conv") for v in ("kernel", "bias")),
      "activations/discriminator/d_conv", "activations/discriminator/d_relu",
      "activations/discriminator/d_pool", "activations/discriminator"}
  assert steps_of(written) == {**{t: [0, 2, 4, 6, 8] for t in histograms},
                               "d_loss": [2, 4, 6, 8], "g_loss": [2, 4, 6, 8]}
  # The probe: the first batch (4 images, fewer than PROBE_SIZE).
  assert_histogram_of(written, "activations/discriminator", 8, model.discriminator(images[:4]))


def test_multi_input_multi_output_model_writes_every_metric(tmp_path):
  keras.utils.set_random_seed(0)
  model = cm.multi_io()
  x, y = cm.multi_io_data(n=32)
  callback = callbacks.SummaryCallback(tmp_path, log_every=3)
  history, warned = fit_quietly(model, x, y, batch_size=8, epochs=2, validation_split=0.25,
                                callbacks=[callback])  # 24 training examples: 3 steps an epoch
  assert warned == []
  metrics = {k for k in history.history if not k.startswith("val_")}
  assert metrics == {"loss", "priority_loss", "department_loss", "priority_mae"}
  written = events.read(str(tmp_path))
  histograms = {
      "weights/title_embed/embeddings", "weights/body_embed/embeddings",
      *(f"weights/{l}/{v}" for l in ("title_lstm", "body_lstm")
        for v in ("kernel", "recurrent_kernel", "bias")),
      *(f"weights/{l}/{v}" for l in ("priority", "department") for v in ("kernel", "bias")),
      *(f"activations/{l}" for l in ("title_embed", "body_embed", "title_lstm", "body_lstm",
                                     "concat", "priority", "department"))}
  assert steps_of(written) == {**{t: [0, 3, 6] for t in histograms},
                               **{m: [3, 6] for m in metrics}}
  for m in metrics:
    assert [float(v) for _, v in written[m]] == pytest.approx(history.history[m], rel=1e-6)
  validation = events.read(str(tmp_path / "validation"))
  assert steps_of(validation) == {m: [3, 6] for m in metrics}
  title = x["title"][:16]
  assert_histogram_of(written, "activations/title_lstm", 6, model.get_layer("title_lstm")(
      model.get_layer("title_embed")(title)))


def test_bilstm_on_integer_tokens_and_a_probe_it_cannot_take(tmp_path):
  keras.utils.set_random_seed(0)
  model = cm.bilstm()
  x, y = cm.bilstm_data(n=16)
  # Beside the default probe, the four XOR points, which are floats: checked against the
  # int32 token input and left out with one warning.
  _, warned = fit_quietly(model, x, y, batch_size=8, epochs=1, callbacks=[
      callbacks.SummaryCallback(tmp_path / "default", log_every=1),
      callbacks.SummaryCallback(tmp_path / "xor", log_every=1, probe=data.INPUTS)])
  assert warned == ["SummaryCallback: activations left out: the probe batch does not fit the "
                    "model's inputs: expected int32 (None, None) for input 'tokens'; received "
                    "float32 (4, 2)"]
  written = events.read(str(tmp_path / "default"))
  assert {t for t in written if t.startswith("activations/")} == {
      "activations/embed", "activations/bi1", "activations/bi2", "activations/output"}
  bi2 = model.get_layer("bi2")(model.get_layer("bi1")(model.get_layer("embed")(x[:16])))
  assert_histogram_of(written, "activations/bi2", 2, bi2)
  assert {t for t in written if t.startswith("weights/bi2/")} == {
      f"weights/bi2/{half}_lstm_1/lstm_cell/{v}" for half in ("forward", "backward")
      for v in ("kernel", "recurrent_kernel", "bias")}
  written = events.read(str(tmp_path / "xor"))
  assert not {t for t in written if t.startswith("activations/")}
  assert {"loss", "accuracy", "weights/out/kernel"} <= set(written)


@pytest.mark.parametrize("steps_per_execution, logged", [(1, [0, 5, 10, 15, 20]),
                                                         (3, [0, 6, 10, 16, 20])])
def test_dataset_of_unknown_length_counts_real_steps(tmp_path, steps_per_execution, logged):
  keras.utils.set_random_seed(0)
  x = np.random.default_rng(0).uniform(size=(40, 3)).astype(np.float32)
  dataset = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).filter(lambda a, b: True).batch(4)
  assert dataset.cardinality() == tf.data.UNKNOWN_CARDINALITY  # 10 batches, unknown to Keras
  model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="dense")])
  model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
  callback = callbacks.SummaryCallback(tmp_path, log_every=5)
  kernels = []
  record = keras.callbacks.LambdaCallback(
      on_epoch_end=lambda e, logs: kernels.append(model.get_layer("dense").kernel.numpy()))
  fit_quietly(model, dataset, epochs=2, callbacks=[callback, record])
  # Two epochs of 10 batches: 20 updates. (With one step an execution, Keras adds 1 to the
  # optimizer's count at each epoch end that finds the data exhausted.)
  assert callback.step == 20
  written = events.read(str(tmp_path))
  assert steps_of(written) == {"weights/dense/kernel": logged, "weights/dense/bias": logged,
                               "activations/output": logged, "loss": logged[1:]}
  assert_histogram_of(written, "weights/dense/kernel", 20, kernels[-1])


def test_a_shared_layer_is_written_at_each_call(tmp_path):
  inputs = keras.Input((2,))
  shared = keras.layers.Dense(2, activation="tanh", name="shared")
  h = shared(shared(inputs))
  model = keras.Model(inputs, keras.layers.Dense(1, name="last")(h))
  model.compile("sgd", "mse")
  fit_quietly(model, data.INPUTS, data.LABELS, batch_size=4, epochs=2,
              callbacks=[callbacks.SummaryCallback(tmp_path, log_every=1)])
  written = events.read(str(tmp_path))
  assert {t for t in written if t.startswith("activations/")} == {
      "activations/shared/call_0", "activations/shared/call_1", "activations/output"}
  assert_histogram_of(written, "activations/shared/call_1", 2, shared(shared(data.INPUTS)))


def test_what_the_callback_cannot_do_never_stops_the_fit(tmp_path):
  class EagerOnly(keras.layers.Layer):
    """Fine in Keras' compiled train step; fails when called eagerly, as the probe pass is."""

    def call(self, x):
      if tf.executing_eagerly():
        raise RuntimeError("no eager calls")
      return x

  inputs = keras.Input((2,))
  model = keras.Model(inputs, keras.layers.Dense(1, name="last")(EagerOnly(name="eager")(inputs)))
  model.compile("sgd", "mse")
  history, warned = fit_quietly(model, data.INPUTS, data.LABELS, batch_size=2, epochs=2,
                                callbacks=[callbacks.SummaryCallback(tmp_path / "run", log_every=1)])
  assert len(history.history["loss"]) == 2
  assert len(warned) == 1
  assert "activations left out: the probe batch's forward pass failed: RuntimeError" in warned[0]
  assert "no eager calls" in warned[0]
  assert set(events.read(str(tmp_path / "run"))) == {
      "loss", "weights/last/kernel", "weights/last/bias"}
  # A logdir that is a file: nothing written, one warning, the fit goes on.
  (tmp_path / "file").write_text("not a directory")
  model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
  model.compile("sgd", "mse")
  history, warned = fit_quietly(model, data.INPUTS, data.LABELS, batch_size=2, epochs=2,
                                callbacks=[callbacks.SummaryCallback(tmp_path / "file", log_every=1)])
  assert len(history.history["loss"]) == 2
  assert len(warned) == 1 and "nothing" in warned[0] and str(tmp_path / "file") in warned[0]
  assert (tmp_path / "file").read_text() == "not a directory"
