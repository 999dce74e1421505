"""The Graphs dashboard's train step reads as the lesson: forward, loss, gradients, update."""

import io

import pytest

from xor_tf import config as config_lib
from xor_tf import events
from xor_tf import experiment
from xor_tf import training


def nodes_of(graph_def):
  return {n.name: n for n in graph_def.node}


def inputs_upstream(nodes, name):
  """Every node `name` depends on, following inputs (control inputs included)."""
  seen, todo = set(), [name]
  while todo:
    for source in nodes[todo.pop()].input:
      source = source.lstrip("^").split(":")[0]
      if source not in seen:
        seen.add(source)
        todo.append(source)
  return seen


def check_readable(graph_def, net_params, layers):
  """The names a learner looks for, and no op outside them."""
  nodes = nodes_of(graph_def)
  for layer in layers:
    assert any(n.startswith(f"train_step/forward/{layer}/") for n in nodes), layer
  assert any(n.startswith("train_step/loss/") for n in nodes)
  for param in net_params:
    assert nodes[f"params/{param}"].op == "Placeholder"
    assert f"train_step/gradients/{param}" in nodes
    update = [n for n in nodes if n.startswith(f"train_step/update/{param}/")]
    assert update, param
    # The update of a parameter reads that parameter and its gradient.
    last = max(update, key=lambda n: len(inputs_upstream(nodes, n)))
    assert {f"params/{param}", f"train_step/gradients/{param}"} <= inputs_upstream(nodes, last)
  assert {"x", "y", "step"} <= set(nodes)
  # Every op is an input, an output of the step, or sits in one of the lesson's scopes (or in
  # gradient_tape/, where TensorFlow puts the backward pass it derives from the forward one).
  outside = [n for n, node in nodes.items()
             if not n.startswith(("train_step/", "gradient_tape/train_step/"))
             and n not in ("x", "y") and node.op != "Placeholder"
             and not (node.op == "Identity" and n.startswith("Identity"))]
  assert not outside
  assert {n.split("/")[1] for n in nodes if n.startswith("train_step/")} == {
      "forward", "loss", "gradients", "update", "accuracy"}


@pytest.fixture(scope="module")
def run_graph(tmp_path_factory):
  """The graph a real run writes for TensorBoard, read back with TensorBoard's reader."""
  config = config_lib.Config(arch="nn", steps=3, log_every=1, image_every=0)
  _, run_dir = experiment.run(config, logdir=str(tmp_path_factory.mktemp("logs")),
                              run_name="graph", out=io.StringIO())
  return events.accumulator(run_dir).Graph()


def test_a_run_writes_a_step_graph_where_layer1_and_its_update_have_names(run_graph):
  check_readable(run_graph, ["layer1/kernel", "layer1/bias", "layer2/kernel", "layer2/bias"],
                 ["layer1", "layer2"])
  nodes = nodes_of(run_graph)
  assert nodes["train_step/forward/layer1/Sigmoid"].op == "Sigmoid"
  assert nodes["train_step/forward/output/Sigmoid"].op == "Sigmoid"
  assert nodes["train_step/update/layer1/kernel/sub"].op == "Sub"  # p - lr * g
  assert nodes["train_step/update/step"].op == "AddV2"


@pytest.mark.parametrize("settings", [
    dict(arch="deep", optimizer="adam", learning_rate=0.1),
    dict(arch="concat", gradients="manual", optimizer="momentum"),
    dict(arch="keras", loss="mse", diagnostics=True),
], ids=lambda s: "-".join(str(v) for v in s.values()))
def test_every_architecture_gradient_and_optimizer_reads_alike(settings):
  config = config_lib.check(config_lib.Config(**settings, steps=2, image_every=0))
  loop = training.create(config)
  graph_def = loop.step_graph().as_graph_def()
  check_readable(graph_def, list(loop.net.params), [u[0] for u in getattr(
      loop.net, "units", [])] or ["layer1", "layer2", "layer3", "layer4"])
  nodes = nodes_of(graph_def)
  for slot in loop.optimizer.slots:
    assert nodes[f"slots/{slot}"].op == "Placeholder"
