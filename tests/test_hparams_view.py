"""What a real TensorBoard's HParams dashboard gets from a sweep: every trial, every metric."""

import glob
import io
import json
import math
import os
import time
import urllib.request

import numpy as np
import pytest

from test_board import tensorboard_on
from xor_tf import sweep

STEPS = 300
SEEDS = list(range(6))
LOAD_TIMEOUT = 30  # seconds for TensorBoard to load every trial
# What the dashboard asks for (tf-hparams-query-pane), every status allowed.
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def post(url, route, body):
  """The JSON answer of TensorBoard at `url` to a POST of `body` as JSON, as the dashboard sends."""
  request = urllib.request.Request(url + route, data=json.dumps(body).encode(),
                                   headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=10) as response:
    return json.loads(response.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
  """A small real sweep with solved, stuck and diverged networks, read through TensorBoard.

  Adam at 0.1 leaves some 2-2-1 nets stuck at 300 steps and solves others; at 1e38 all diverge.
  Returns (experiment, session groups, {trial name: the sweep's own per-seed results}).
  """
  configs = sweep.grid({"arch": ["nn"], "optimizer": ["adam"], "learning_rate": [0.1, 1e38]},
                       steps=STEPS)
  _, sweep_dir = sweep.run(configs, SEEDS, logdir=str(tmp_path_factory.mktemp("logs")),
                           sweep_name="s", trials="seed", out=io.StringIO())
  results = {}  # trial name of the configuration -> what the sweep computed, as saved
  for config in configs:
    name = sweep.config_name(config)
    parts = [sweep.load_slice(p) for p in sorted(glob.glob(
        os.path.join(sweep.results_dir(sweep_dir, name), "seeds-*.npz")))]
    results[sweep.trial_names(configs)[name]] = sweep.combined(config, parts)
  with tensorboard_on(sweep_dir) as url:
    deadline = time.monotonic() + LOAD_TIMEOUT
    while True:
      experiment = post(url, "data/plugin/hparams/experiment", {"experimentName": ""})
      columns = ([{"hparam": h["name"], "includeInResult": True}
                  for h in experiment.get("hparamInfos", [])]
                 + [{"metric": m["name"], "includeInResult": True}
                    for m in experiment.get("metricInfos", [])])
      groups = post(url, "data/plugin/hparams/session_groups", {
          "experimentName": "", "allowedStatuses": STATUSES, "colParams": columns,
          "startIndex": 0, "sliceSize": 100})["sessionGroups"]
      metrics_seen = sum(len(g["metricValues"]) for g in groups)
      if metrics_seen == 7 * len(configs) * len(SEEDS) or time.monotonic() > deadline:
        break
      time.sleep(0.5)
    # What the dashboard asks for when a trial is clicked: each shown metric over the steps.
    curves = {}
    for group in groups:
      session = group["sessions"][0]["name"]
      curves[group["name"]] = {
          tag: post(url, "data/plugin/hparams/metric_evals", {
              "experimentName": "", "sessionName": session,
              "metricName": {"tag": tag, "group": ""}}) for tag in ("loss", "accuracy")}
  return experiment, groups, results, curves


def test_every_trial_has_every_metric_and_its_seed(served):
  experiment, groups, results, _ = served
  metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
  assert metrics == ["solved", "steps_to_solve", "final_loss", "final_accuracy", "diverged",
                     "loss", "accuracy"]
  assert all(m["description"] for m in experiment["metricInfos"])
  assert f"{STEPS + 1}" in experiment["metricInfos"][1]["description"]  # the censored value
  assert len(groups) == 2 * len(SEEDS)
  kinds = set()
  for group in groups:
    config_part, seed_part = group["name"].split("/")  # e.g. lr0.1/seed3: readable, not a hash
    seed = int(group["hparams"]["seed"])
    assert seed_part == f"seed{seed}"
    r = results[config_part]
    m = list(r.seeds).index(seed)
    values = {v["name"]["tag"]: v["value"] for v in group["metricValues"]}
    assert set(values) == set(metrics) and all(math.isfinite(v) for v in values.values())
    assert len(group["sessions"]) == 1
    assert values["solved"] == float(r.solved[m])
    assert values["diverged"] == float(r.diverged[m])
    assert values["steps_to_solve"] == (r.solved_step[m] if r.solved_step[m] >= 0 else STEPS + 1)
    if r.diverged[m]:
      assert values["final_loss"] == pytest.approx(sweep.DIVERGED_LOSS, rel=1e-6)
      assert values["final_accuracy"] == 0
      kinds.add("diverged")
    else:
      assert values["final_loss"] == pytest.approx(float(r.loss[m]), rel=1e-6)
      assert values["final_accuracy"] == r.accuracy[m]
      kinds.add("solved" if r.solved[m] else "stuck")
    assert group["hparams"]["log10_learning_rate"] == pytest.approx(
        math.log10(group["hparams"]["learning_rate"]), abs=1e-4)
  assert kinds == {"solved", "stuck", "diverged"}  # each kind is in the view


def test_a_clicked_trial_shows_its_loss_and_accuracy_curves(served):
  _, groups, results, curves = served
  steps = [0, 10, 20, 30, 50, 70, 100, 200, STEPS]
  for group in groups:
    config_part, _ = group["name"].split("/")
    r = results[config_part]
    m = list(r.seeds).index(int(group["hparams"]["seed"]))
    # Each eval is [wall time, step, value].
    loss, accuracy = ([e[1:] for e in curves[group["name"]][tag]] for tag in ("loss", "accuracy"))
    assert [s for s, _ in loss] == [s for s, _ in accuracy] == steps
    if r.diverged[m]:  # finite, as the metrics: the largest float32 and 0 once diverged
      assert loss[-1][1] == pytest.approx(sweep.DIVERGED_LOSS, rel=1e-6)
      assert accuracy[-1][1] == 0
    else:
      np.testing.assert_allclose([v for _, v in loss], r.curve_loss[m], rtol=1e-6)
      assert [v for _, v in accuracy] == r.curve_accuracy[m].tolist()
      assert loss[-1][1] == pytest.approx(float(r.loss[m]), rel=1e-6)


def test_the_seed_is_among_the_columns_shown_first(served):
  experiment, _, _, _ = served
  infos = experiment["hparamInfos"]
  differing = {h["name"] for h in infos if h.get("differs")}
  assert differing == {"learning_rate", "log10_learning_rate", "seed"}
  # The dashboard shows the first five hparams after a stable sort putting differing ones first.
  shown = sorted(infos, key=lambda h: not h.get("differs"))[:5]
  assert "seed" in {h["name"] for h in shown}
  assert all(h["description"] for h in infos)


def test_trial_names_keep_what_differs():
  configs = sweep.grid({"arch": ["nn"], "activation": ["sigmoid", "tanh"],
                        "learning_rate": [0.5, 5.0]}, steps=10)
  names = sweep.trial_names(configs)
  assert sorted(names.values()) == ["sigmoid-lr0.5", "sigmoid-lr5", "tanh-lr0.5", "tanh-lr5"]
  assert names["nn-2-2-1-tanh-sgd-lr0.5-bce-uniform"] == "tanh-lr0.5"
  assert sweep.trial_id_of("tanh-lr0.5", 7, 120) == "tanh-lr0.5/seed007"
  one = sweep.grid({"arch": ["deep"]}, steps=10)
  assert list(sweep.trial_names(one).values()) == [""]
  assert sweep.trial_id_of("", 3, 9) == "seed3"
  archs = sweep.grid({"arch": ["nn", "deep"], "optimizer": ["sgd", "adam"]}, steps=10)
  assert sorted(sweep.trial_names(archs).values()) == ["deep-adam", "deep-sgd", "nn-adam",
                                                        "nn-sgd"]
  shapes = sweep.grid({"arch": ["nn", "deep"]}, hidden=[(2,), (4,)], steps=10)
  assert sorted(sweep.trial_names(shapes).values()) == ["nn-2-2-1", "nn-2-4-1"]
  mixed = sweep.grid({"arch": ["nn"], "optimizer": ["sgd", "momentum"]}, steps=10)
  assert sorted(sweep.trial_names(mixed).values()) == ["momentum-mom0.9", "sgd"]
  assert np.unique(list(sweep.trial_names(mixed).values())).size == 2
