"""The engine is open: optimizers, activations, settings and summaries are each one entry."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, run_module
from xor_tf import activations
from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import ensemble
from xor_tf import events
from xor_tf import losses
from xor_tf import models
from xor_tf import optim
from xor_tf import step as step_lib
from xor_tf import training


@pytest.mark.parametrize("kind,name", [("sgd", "sgd"), ("momentum", "sgd"), ("adam", "adam")])
def test_keras_optimizers_keep_their_name_however_many_came_before(kind, name):
  # A fit run's graph shows train_step/<name>/...; Keras would number a process's later
  # optimizers (sgd_1, sgd_2, ...), as in a notebook's second run.
  hyper = config_lib.Config(optimizer=kind).hyperparameters
  assert [optim.keras_optimizer(kind, hyper).name for _ in range(3)] == [name] * 3


@pytest.mark.parametrize("kind", optim.NAMES)
def test_every_optimizer_matches_its_keras_counterpart_step_by_step(kind):
  config = config_lib.Config(arch="nn", optimizer=kind, learning_rate=0.3, seed=3)
  net = models.build(config)
  ours = optim.Optimizer(kind, config.hyperparameters, net.params)
  state = {"params": {k: tf.convert_to_tensor(v) for k, v in net.params.items()},
           "slots": {k: tf.convert_to_tensor(v) for k, v in ours.slots.items()},
           "step": tf.constant(0, tf.int64)}
  theirs = optim.keras_optimizer(kind, config.hyperparameters)
  variables = [tf.Variable(v) for v in net.params.values()]
  x, y = tf.constant(data.INPUTS), tf.constant(data.LABELS)
  moved = 0.0
  for _ in range(25):
    state, _ = step_lib.train_step(net, ours, state, x, y, config.loss)
    with tf.GradientTape() as tape:
      params = dict(zip(net.params, variables))
      loss = losses.compute_loss(net.apply(params, x)[0], y, config.loss)
    theirs.apply_gradients(zip(tape.gradient(loss, variables), variables))
    for (name, value), variable in zip(state["params"].items(), variables):
      np.testing.assert_allclose(value.numpy(), variable.numpy(), rtol=2e-5, atol=2e-6,
                                 err_msg=name)
  for name, value in state["params"].items():
    moved = max(moved, float(np.abs(value.numpy() - net.params[name].numpy()).max()))
  assert moved > 0.05  # the weights moved: the comparison could fail


def test_momentum_is_not_sgd():
  """Momentum's velocity changes the path: the same steps at the same rate end elsewhere."""
  base = dict(arch="nn", steps=50, log_every=50, image_every=0, learning_rate=0.5)
  plain = training.train(config_lib.Config(optimizer="sgd", **base))
  heavy = training.train(config_lib.Config(optimizer="momentum", momentum=0.9, **base))
  assert abs(plain.loss - heavy.loss) > 1e-3


@pytest.mark.parametrize("hidden", [(2,), (10, 10, 10), (4, 4, 4, 4, 4)])
def test_linear_cannot_learn_xor_at_any_depth(hidden):
  config = config_lib.Config(arch="nn", hidden=hidden, activation="linear", steps=3000,
                             learning_rate=0.02)
  results = ensemble.train(config, range(40))
  finite = ~results.diverged
  assert finite.sum() >= 30  # most seeds trained to the end
  assert results.solved.sum() == 0
  assert np.all(results.accuracy[finite] <= 0.75)
  # Where a line is best: every point at 0.5, loss ln 2 (as the logistic unit).
  assert np.all(results.loss[finite] > np.log(2) - 1e-3)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_tanh_and_relu_deep_nets_learn_at_their_learning_rate(activation):
  config = config_lib.Config(arch="deep", activation=activation)
  assert config.learning_rate == activations.ACTIVATIONS[activation].learning_rate
  results = ensemble.train(config, range(20))
  assert results.solved.sum() >= 18  # measured with the sweep: 200/200 and 198/200 (README)
  single = training.train(dataclasses.replace(config, log_every=config.steps, image_every=0))
  np.testing.assert_array_equal(single.labels, [0, 1, 1, 0])


def test_default_learning_rate_follows_the_activation_unless_given():
  assert config_lib.Config().learning_rate == 5.0
  assert config_lib.Config(activation="tanh").learning_rate == 0.5
  assert config_lib.Config(activation="tanh", learning_rate=2.0).learning_rate == 2.0


NEW_ACTIVATION = r"""
import sys
import tensorflow as tf
from xor_tf import activations
# A user's new activation: one entry in the table, and nothing else.
activations.ACTIVATIONS["softsign"] = activations.Activation(
    "softsign", tf.nn.softsign, lambda a: (1 - tf.abs(a)) ** 2, (-1.0, 1.0), "softsign", 0.5,
    "z/(1+|z|), f' = (1-|a|)^2")
activations.NAMES = tuple(activations.ACTIVATIONS)
import numpy as np
from xor_tf import backprop, config, ensemble, models, step, training, data
c = config.Config(arch="nn", activation="softsign", steps=300, log_every=300, image_every=100)
single = training.train(c)
res = ensemble.train(c, [c.seed])
assert abs(res.loss[0] - single.loss) < 1e-4, (res.loss, single.loss)
net = models.build(config.Config(arch="deep", activation="softsign", init="normal"))
params = {k: tf.cast(v, tf.float64) for k, v in net.params.items()}
x, y = tf.constant(data.INPUTS, tf.float64), tf.constant(data.LABELS, tf.float64)
_, manual = backprop.manual_gradients(net, params, x, y, "bce")
_, tape = step.tape_gradients(net, params, x, y, "bce")
for k in params:
  np.testing.assert_allclose(manual[k].numpy(), tape[k].numpy(), rtol=1e-6, atol=1e-12)
print("ok", single.loss)
"""


def test_a_new_activation_is_one_table_entry():
  proc = subprocess.run([sys.executable, "-c", NEW_ACTIVATION], capture_output=True, text=True,
                        cwd=REPO, timeout=240, check=False)
  assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr[-3000:]


def test_every_setting_reaches_flags_names_and_hparams():
  for name, field in config_lib.FIELDS.items():
    assert field.metadata["help"], name
  momentum = config_lib.Config(arch="nn", optimizer="momentum", momentum=0.5, activation="tanh")
  assert config_lib.name_parts(momentum) == ["nn-2-2-1", "tanh", "momentum", "lr0.5", "mom0.5",
                                             "bce", "uniform", "seed1"]
  assert config_lib.hparams(momentum)["momentum"] == 0.5
  assert "momentum" not in config_lib.hparams(config_lib.Config())
  assert "--momentum=0.5" in config_lib.flag_lines(momentum)
  assert not any(line.startswith("--momentum") for line in
                 config_lib.flag_lines(config_lib.Config()))
  # The saved flags make the same Config again.
  values = dict(line[2:].split("=", 1) for line in config_lib.flag_lines(momentum))
  typed = {k: config_lib.FIELDS[k].type(v) if config_lib.FIELDS[k].type in (int, float) else v
           for k, v in values.items()}
  typed["diagnostics"] = typed["diagnostics"] == "True"
  again = config_lib.config_from_values(typed)
  assert again == dataclasses.replace(momentum, hidden=(2,))
  helps = {prog: run_module(prog, "--help").stdout for prog in ("xor_tf.train", "xor_tf.sweep")}
  for name, field in config_lib.FIELDS.items():
    if field.metadata["flag"]:
      assert f"--{name}:" in helps["xor_tf.train"] or f"--[no]{name}:" in helps["xor_tf.train"]
    if field.metadata["sweep"]:
      assert f"--{name}:" in helps["xor_tf.sweep"], name


def test_a_setting_without_its_declaration_fails_loudly():
  @dataclasses.dataclass(frozen=True)
  class Forgotten:
    arch: str = dataclasses.field(default="deep", metadata=config_lib.setting("x"))
    beta: float = 0.5

  with pytest.raises(TypeError, match=r"Forgotten.beta is expected to be declared"):
    config_lib.check_declarations(Forgotten)


@pytest.mark.parametrize("args,named", [
    (["--activation=softmax"], "--activation=softmax"),
    (["--optimizer=momentum", "--momentum=1"], "--momentum=1"),
    (["--optimizer=momentum", "--momentum=-0.1"], "--momentum=-0.1"),
    (["--optimizer=adam", "--momentum=0.5"], "--momentum"),
])
def test_bad_activation_and_momentum_fail_in_one_line(tmp_path, args, named):
  proc = run_module("xor_tf.train", f"--logdir={tmp_path / 'logs'}", *args)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and named in lines[0], proc.stderr
  assert "expect" in lines[0].lower() or "should be" in lines[0].lower(), lines[0]
  assert not (tmp_path / "logs").exists()


def test_a_summary_added_to_observe_reaches_step_and_fit_runs(tmp_path, monkeypatch):
  """What the lesson's docstring tells a user: add the tag to the dict `observe` returns."""
  original = step_lib.observe

  def observe(apply, params, x, y, loss_fn):
    record = original(apply, params, x, y, loss_fn)
    record["custom/largest_weight"] = tf.reduce_max(
        tf.stack([tf.reduce_max(tf.abs(p)) for p in params.values()]))
    return record

  monkeypatch.setattr(step_lib, "observe", observe)
  from xor_tf import fit  # pylint: disable=g-import-not-at-top
  for trainer in ("step", "fit"):
    config = config_lib.Config(arch="keras", trainer=trainer, steps=40, log_every=20,
                               image_every=0)
    run_dir = str(tmp_path / trainer)
    writer = tf.summary.create_file_writer(run_dir)
    if trainer == "step":
      training.train(config, writer=writer)
    else:
      fit.train_with_fit(config, writer=writer)
    writer.close()
    written = events.read(run_dir)
    assert "custom/largest_weight" in written, (trainer, sorted(written))
    steps = [s for s, _ in written["custom/largest_weight"]]
    assert steps[-1] == 40 and all(float(v) > 0 for _, v in written["custom/largest_weight"])


@pytest.mark.parametrize("activation,values,colours", [
    # tanh spans [-1, 1]: -1 blue, 0 white, 1 red (sigmoid would clip -1 and 0 to blue).
    ("tanh", [-1.0, 0.0, 1.0], ["blue", "white", "red"]),
    # relu spans 0 to the layer's largest value.
    ("relu", [0.0, 1.5, 3.0], ["blue", "white", "red"]),
    # linear spans ± the largest magnitude, 0 white.
    ("linear", [-4.0, 0.0, 2.0], ["blue", "white", None]),
    ("sigmoid", [0.0, 0.5, 1.0], ["blue", "white", "red"]),
])
def test_heatmaps_span_their_activations_range(activation, values, colours):
  from xor_tf import pictures  # pylint: disable=g-import-not-at-top
  value_range = activations.ACTIVATIONS[activation].picture_range
  columns = tf.constant([[v] * 4 for v in values], tf.float32)  # 3 neurons on a 2 x 2 grid
  image = pictures.rgb(pictures.neuron_heatmaps_packed(columns, 2,
                                                       value_range=value_range)).numpy()[0]
  expected = {"blue": pictures.CLASS_COLORS[0], "red": pictures.CLASS_COLORS[1],
              "white": np.array([0xf7, 0xf7, 0xf7])}
  for i, ((top, left, _), colour) in enumerate(zip(pictures.heatmap_boxes(3), colours)):
    if colour:  # the heatmap's corner, away from the XOR points' marks
      np.testing.assert_array_equal(image[top, left], expected[colour], err_msg=f"{i} {colour}")
