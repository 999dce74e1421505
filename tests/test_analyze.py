"""Tests of the loss-surface analysis: exact Hessians, the classes' rules, escape runs, the CLI."""

import dataclasses
import json
import os

import numpy as np
import pytest

from conftest import run_module
from xor_tf import analyze
from xor_tf import config as config_lib
from xor_tf import ensemble
from xor_tf import events
from xor_tf import hessian

NN = config_lib.Config(arch="nn")


def _net(**kwargs):
  return ensemble.template(dataclasses.replace(NN, **kwargs))


def _fd_gradient_and_hessian(net, theta, loss_kind, h=1e-4):
  """Central finite differences of the loss alone, in float64, every evaluation in one batch."""
  size = theta.shape[1]
  eye = np.eye(size) * h
  points, index = [], {}
  for m in range(len(theta)):
    for i in range(size):
      for si in (1, -1):
        index[m, i, si] = len(points)
        points.append(theta[m] + si * eye[i])
        for j in range(size):
          for sj in (1, -1):
            index[m, i, si, j, sj] = len(points)
            points.append(theta[m] + si * eye[i] + sj * eye[j])
  values = hessian.loss_at(net, np.array(points), loss_kind)
  grad = np.zeros(theta.shape)
  hess = np.zeros((len(theta), size, size))
  for m in range(len(theta)):
    for i in range(size):
      grad[m, i] = (values[index[m, i, 1]] - values[index[m, i, -1]]) / (2 * h)
      for j in range(size):
        hess[m, i, j] = (values[index[m, i, 1, j, 1]] - values[index[m, i, 1, j, -1]]
                         - values[index[m, i, -1, j, 1]] + values[index[m, i, -1, j, -1]]
                         ) / (4 * h * h)
  return grad, hess


@pytest.mark.parametrize("activation,loss,hidden", [("sigmoid", "bce", (2,)),
                                                    ("tanh", "mse", (2,)),
                                                    ("sigmoid", "bce", (3,))])
def test_hessian_matches_finite_differences(activation, loss, hidden):
  net = _net(activation=activation, loss=loss, hidden=hidden)
  theta = np.random.default_rng(3).normal(size=(3, hessian.size(net))) * 1.5
  values, grad, hess = hessian.derivatives(net, theta, loss)
  fd_grad, fd_hess = _fd_gradient_and_hessian(net, theta, loss)
  np.testing.assert_allclose(values, hessian.loss_at(net, theta, loss), rtol=0, atol=1e-15)
  np.testing.assert_allclose(grad, fd_grad, rtol=0, atol=1e-8)
  np.testing.assert_allclose(hess, fd_hess, rtol=0, atol=2e-6)
  # Batched over nets: each net's Hessian is the one it has alone.
  for m in range(len(theta)):
    np.testing.assert_allclose(hessian.derivatives(net, theta[m:m + 1], loss)[2][0], hess[m],
                               rtol=0, atol=1e-14)


def test_flatten_round_trip_keeps_parameter_names_and_order():
  net = _net(hidden=(3,))
  params = ensemble.initial_params(net, "uniform", [4, 5])
  theta = hessian.flatten(net, params)
  assert theta.shape == (2, 13)
  back = hessian.unflatten(net, theta)
  assert list(back) == ["layer1/kernel", "layer1/bias", "layer2/kernel", "layer2/bias"]
  for name, value in params.items():
    np.testing.assert_array_equal(back[name], np.asarray(value))


def test_all_zero_sigmoid_net_is_a_degenerate_stationary_point():
  net = _net()
  theta = np.zeros((1, 9))
  loss, grad, hess = hessian.derivatives(net, theta, "bce")
  np.testing.assert_allclose(loss, [np.log(2)], rtol=1e-15)
  assert np.all(grad == 0)
  values = np.linalg.eigvalsh(hess[0])
  np.testing.assert_allclose(values[:8], 0, atol=1e-15)
  np.testing.assert_allclose(values[8], 0.375, rtol=1e-14)
  # By hand: the output unit's three parameters (w1, w2 at h = 0.5, and b) give the
  # Gauss-Newton block p(1-p)·J Jᵀ, J = (0.5, 0.5, 1), whose one non-zero eigenvalue is
  # 0.25 · (0.25 + 0.25 + 1) = 0.375; every other second derivative averages to 0 over XOR.
  assert analyze.classify(np.linalg.norm(grad), values) == "flat"


def test_classify_rules_on_hand_made_gradients_and_spectra():
  tol, ctol = analyze.GRAD_TOL, analyze.CURVATURE_TOL
  spd = np.array([0.01, 0.1, 1.0])
  assert analyze.classify(np.nan, spd) == "diverged"
  assert analyze.classify(1e-6, spd, diverged=True) == "diverged"
  assert analyze.classify(1e-6, spd, solved=True) == "solved"
  assert analyze.classify(1e-6, spd, dead_units=1) == "dead units"
  assert analyze.classify(10 * tol, spd) == "descending"
  assert analyze.classify(tol, spd) == "local minimum"  # the tolerance itself is "near 0"
  assert analyze.classify(1e-6, np.array([-2 * ctol, 0.0, 1.0])) == "saddle"
  assert analyze.classify(1e-6, np.array([-0.5 * ctol, 0.3])) == "flat"
  assert analyze.classify(1e-6, np.array([0.5 * ctol, 0.3])) == "flat"
  assert analyze.classify(1e-6, np.array([2 * ctol, 0.3])) == "local minimum"
  assert analyze.classify(1e-6, np.array([2 * ctol, 0.3]), continued_solves=True) == "descending"
  # The tolerances are arguments: a looser curvature tolerance turns the saddle flat.
  assert analyze.classify(1e-6, np.array([-2 * ctol, 1.0]), curvature_tol=3 * ctol) == "flat"
  assert analyze.classify(10 * tol, spd, grad_tol=100 * tol) == "local minimum"


def test_solved_nets_have_no_negative_curvature_beyond_tolerance():
  config = dataclasses.replace(NN, steps=3000)
  results = ensemble.train(config, list(range(12)))
  assert results.solved.sum() >= 5
  net = ensemble.template(config)
  theta = hessian.flatten(net, {k: v[results.solved] for k, v in results.params.items()})
  _, _, hess = hessian.derivatives(net, theta.astype(np.float64), "bce")
  values = hessian.spectrum(hess)[0]
  assert values[:, 0].min() >= -analyze.CURVATURE_TOL, values[:, 0]


def test_continued_training_from_the_initial_weights_is_the_ensembles_training():
  config = dataclasses.replace(NN, steps=700)
  seeds = [0, 1, 2, 3]
  net = ensemble.template(config)
  initial = {k: np.asarray(v) for k, v in ensemble.initial_params(net, config.init, seeds).items()}
  steps, accuracy, weights = analyze.continue_training(config, initial, 700)
  results = ensemble.train(config, seeds)
  for name in weights:
    np.testing.assert_array_equal(weights[name], results.params[name])
  np.testing.assert_array_equal(accuracy, results.accuracy)
  np.testing.assert_array_equal(steps, np.where(results.solved, results.solved_step, -1))


def test_escape_runs_are_reproducible_bit_for_bit():
  config = dataclasses.replace(NN, steps=400)
  kwargs = dict(controls=2, escape_steps=1200, nudge=0.2)
  first = analyze.analyze_config(config, list(range(10)), **kwargs)
  second = analyze.analyze_config(config, list(range(10)), **kwargs)
  assert (first.classes == second.classes) and len(first.seeds) > 2
  for k in analyze.ESCAPES:
    np.testing.assert_array_equal(first.escape_steps[k], second.escape_steps[k])
  np.testing.assert_array_equal(first.eigenvalues, second.eigenvalues)
  unsolved = np.array([c != "solved" for c in first.classes])
  assert np.all(first.escape_steps["continued"][unsolved] != analyze.NOT_RUN)
  assert np.all(first.escape_steps["continued"][~unsolved] == analyze.NOT_RUN)


def test_dead_relu_units_are_counted():
  net = _net(activation="relu")
  theta = np.zeros((2, 9))
  theta[0, 4] = theta[0, 5] = -1.0  # both hidden biases negative, zero kernels: both dead
  theta[1, 4], theta[1, 5] = -1.0, 1.0  # one dead
  np.testing.assert_array_equal(hessian.dead_units(net, theta), [2, 1])
  _, grad, _ = hessian.derivatives(net, theta, "bce")
  assert np.all(grad[0, :6] == 0)  # a dead unit's kernel and bias get exactly 0


def test_picture_curves_pass_through_the_initial_and_final_losses():
  net = _net()
  rng = np.random.default_rng(0)
  initial, final = rng.normal(size=9), rng.normal(size=9)
  alphas, values = analyze.line_losses(net, initial, final, "bce", points=7)
  np.testing.assert_allclose(alphas[[1, 5]], [0.0, 1.0])
  np.testing.assert_allclose(values[[1, 5]], hessian.loss_at(net, np.stack([initial, final]),
                                                               "bce"), rtol=1e-12)
  u, v = np.eye(9)[0], np.eye(9)[1]
  grid = analyze.slice_losses(net, final, u, v, "bce", points=5, radius=1.0)
  np.testing.assert_allclose(grid[2, 2], hessian.loss_at(net, final[None], "bce")[0])
  np.testing.assert_allclose(grid[0, 4], hessian.loss_at(net, (final + u + v)[None], "bce")[0])
  image = analyze.landscape(net, initial, final, "bce")
  assert image.shape == (analyze.PANEL, 2 * analyze.PANEL + 4, 3) and image.dtype == np.uint8


def test_cli_writes_table_json_event_files_and_pictures(tmp_path):
  from tensorboard.backend.event_processing import event_accumulator
  out = tmp_path / "nets.json"
  proc = run_module("xor_tf.analyze", "--seeds=0-15", "--steps=300", "--escape_steps=600",
                    f"--logdir={tmp_path}", "--analysis_name=a", f"--json={out}",
                    "--controls=3", timeout=240)
  assert proc.returncode == 0, proc.stderr
  assert "| nn-2-2-1 sigmoid sgd lr5 bce uniform |" in proc.stdout
  assert f"open it: python -m xor_tf.board --logdir {tmp_path / 'a'}\n" in proc.stdout
  records = json.loads(out.read_text())["nets"]
  assert records and all(len(r["hessian_eigenvalues"]) == 9 for r in records)
  assert set(records[0]["final_weights"]) == {"layer1/kernel", "layer1/bias", "layer2/kernel",
                                              "layer2/bias"}
  assert {r["class"] for r in records} <= set(analyze.CLASSES)
  config_dir = tmp_path / "a" / "nn-2-2-1-sigmoid-sgd-lr5-bce-uniform"
  acc = event_accumulator.EventAccumulator(str(config_dir), size_guidance={"tensors": 0})
  acc.Reload()
  expected = {"analysis", "landscape/landscape", "_hparams_/session_start_info",
              *analyze.METRICS} - {"analysis/median_escape_steps"}  # written when one escapes
  assert set(acc.Tags()["tensors"]) - {"analysis/median_escape_steps"} == expected
  root = event_accumulator.EventAccumulator(str(tmp_path / "a"), size_guidance={"tensors": 0})
  root.Reload()
  assert set(root.Tags()["tensors"]) == {"analysis", "_hparams_/experiment"}
  # Seeds 0-15 at 300 steps: some stuck, some solved, so the side-by-side picture is drawn.
  assert (config_dir / "landscape.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("flag,expected", [("--nudge=-1", "--nudge expects"),
                                           ("--activation=foo", "Unknown activation"),
                                           ("--seeds=9-1", "--seeds expects"),
                                           ("--json=/nonexistent/dir/x.json", "--json expects")])
def test_bad_flags_fail_in_one_line_with_status_2(tmp_path, flag, expected):
  proc = run_module("xor_tf.analyze", flag, f"--logdir={tmp_path}", timeout=60)
  assert proc.returncode == 2
  assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
  assert os.listdir(tmp_path) == []


def test_a_configuration_with_nothing_to_analyse_gives_empty_rows_not_an_error():
  config = dataclasses.replace(NN, hidden=(3,), steps=1500)
  a = analyze.analyze_config(config, [1, 2, 3], controls=0)
  assert a.solved_trained == 3 and len(a.seeds) == 0
  assert len(analyze.table([a]).splitlines()) == 2  # the header only
  assert analyze.metrics(a)["analysis/fraction_solved"] == 1.0
  assert analyze.config_picture(a) is None


@pytest.mark.parametrize("arch", ["nn", "keras"])
def test_train_landscape_draws_the_runs_two_pictures(tmp_path, arch):
  proc = run_module("xor_tf.train", f"--logdir={tmp_path}", f"--arch={arch}", "--steps=200",
                    "--log_every=100", "--image_every=0", "--landscape", "--run_name=r")
  assert proc.returncode == 0, proc.stderr
  picture = tmp_path / "r" / "landscape.png"
  assert picture.read_bytes().startswith(b"\x89PNG") and f"loss landscape: {picture}" in proc.stdout
  assert "landscape/landscape" in events.read(str(tmp_path / "r"))


def test_landscape_of_a_fit_run(tmp_path):
  proc = run_module("xor_tf.train", f"--logdir={tmp_path}", "--arch=keras", "--trainer=fit",
                    "--steps=20", "--log_every=10", "--image_every=0", "--landscape",
                    "--run_name=f")
  assert proc.returncode == 0, proc.stderr
  assert (tmp_path / "f" / "landscape.png").read_bytes().startswith(b"\x89PNG")
