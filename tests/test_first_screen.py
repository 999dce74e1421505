"""What a learner sees first, read from TensorBoard's own HTTP API on a fresh run of the CLI.

One short `deep --diagnostics` run, trained by `python -m xor_tf.train` as a learner would,
served by `python -m xor_tf.board`: the custom-scalars layout, every picture step, a description
for every scalar and histogram, the flags as used, and the address `python -m xor_tf.board`
prints.
"""

import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
import pytest

from conftest import REPO, run_module
from test_board import get
from xor_tf import board
from xor_tf import config as config_lib
from xor_tf import events
from xor_tf import tags

RUN = "deep"
# 13 picture steps (0, 20, ..., 240): more than the 10 per tag a plain TensorBoard keeps.
FLAGS = ("--arch=deep", "--diagnostics", "--steps=240", "--log_every=10", "--image_every=20")
CONFIG = config_lib.Config(arch="deep", diagnostics=True, steps=240, log_every=10, image_every=20)
LAYERS = [f"layer{i}" for i in range(1, len(CONFIG.widths) + 2)]  # hidden layers and the output
# The pictures of a deep run, the hidden layer's view included.
PICTURES = {tags.picture(tags.OUTPUT), tags.picture(tags.HIDDEN_SPACE),
            *(tags.picture(layer) for layer in LAYERS[:-1])}


def printed_lines(process, count, timeout=60):
  """The first `count` lines `process` prints, waiting at most `timeout` s in all."""
  lines = queue.Queue()
  threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                   daemon=True).start()
  deadline = time.monotonic() + timeout  # a bound on the test, not a claim about speed
  return [lines.get(timeout=max(0.1, deadline - time.monotonic())) for _ in range(count)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
  """(TensorBoard's URL, the log directory, what the CLI printed, what the board printed).

  The run is trained by `python -m xor_tf.train` and served by `python -m xor_tf.board`.
  """
  logdir = tmp_path_factory.mktemp("first_screen")
  done = run_module("xor_tf.train", f"--logdir={logdir}", f"--run_name={RUN}", *FLAGS)
  assert done.returncode == 0, done.stderr
  process = subprocess.Popen([sys.executable, "-u", "-m", "xor_tf.board", f"--logdir={logdir}",
                              "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=dict(os.environ, PYTHONPATH=REPO))
  try:
    printed = printed_lines(process, 3)
    url = re.search(r" at (http://\S+/) ", printed[0]).group(1)
    yield url, logdir, done.stdout, printed
  finally:
    process.terminate()  # xor_tf.board stops its TensorBoard on SIGTERM
    process.wait(timeout=30)
    process.stdout.close()


def test_the_cli_prints_the_command_that_shows_every_picture(served):
  _, logdir, stdout, _ = served
  assert f"open it: python -m xor_tf.board --logdir {shlex.quote(str(logdir))}\n" in stdout
  assert f"plain `tensorboard --logdir {shlex.quote(str(logdir))}` keeps 10" in stdout


def test_every_picture_step_in_the_event_files_is_served(served):
  url, logdir, _, _ = served
  written = {tag: entries for tag, entries in events.read(str(logdir / RUN)).items()
             if tags.is_picture(tag)}
  assert set(written) == PICTURES
  for tag, entries in written.items():
    steps = [step for step, _ in entries]
    assert len(steps) > 10 and steps[0] == 0 and steps[-1] == CONFIG.steps, (tag, steps)
    images = get(url, "data/plugin/images/images", run=RUN, tag=tag, sample=0)
    assert [image["step"] for image in images] == steps, tag
    # An image summary holds [width, height, encoded image]: served are those very bytes.
    for image, (_, value) in zip(images, entries):
      assert get(url, "data/plugin/images/individualImage?" + image["query"]) == value[2], tag


def test_every_scalar_and_histogram_has_its_description(served):
  url = served[0]
  listed = {**get(url, "data/plugin/scalars/tags")[RUN],
            **get(url, "data/plugin/histograms/tags")[RUN]}
  for layer in LAYERS:
    assert {tags.weight(tags.param_name(layer, "kernel")), tags.gradient_norm(layer),
            tags.sign_changes(layer), tags.activation(layer if layer != LAYERS[-1]
                                                      else tags.OUTPUT)} <= set(listed)
  for tag, info in listed.items():
    text = re.sub(r"<[^>]+>", "", info["description"])  # TensorBoard serves it as HTML
    assert tags.description(tag) and text, tag
    # The description of the tag's family, with its own name in it.
    assert tag.partition("/")[2] in text or tag in tags.DESCRIPTIONS, (tag, text)
  loss = listed[tags.LOSS]["description"]
  assert "ln 2 ≈ 0.693" in loss and "ln 2 / 2 ≈ 0.347" in loss


def test_the_custom_scalars_layout_puts_every_layers_gradient_on_one_chart(served):
  url = served[0]
  layout = get(url, "data/plugin/custom_scalars/layout")
  charts = {chart["title"]: chart["multiline"]["tag"]
            for category in layout["category"] for chart in category["chart"]}
  scalars = list(get(url, "data/plugin/scalars/tags")[RUN])

  def drawn(patterns):  # the plugin draws every tag that one of a chart's expressions matches
    return {tag for tag in scalars if any(re.search(p, tag) for p in patterns)}

  loss_chart, = [title for title in charts if drawn(charts[title]) == {tags.LOSS}]
  assert "0.693" in loss_chart and "0.347" in loss_chart
  assert any(drawn(p) == {tags.ACCURACY} for p in charts.values())
  assert any(drawn(p) == {tags.gradient_norm(layer) for layer in LAYERS}
             for p in charts.values()), charts
  relative = {tags.gradient_norm_relative(layer) for layer in LAYERS[:-1]}
  assert any(drawn(p) == relative for p in charts.values()), charts
  # Each relative norm is the layer's norm over the last layer's, at every logging step.
  value = lambda tag: np.array([v for _, _, v in get(url, "data/plugin/scalars/scalars",
                                                     run=RUN, tag=tag)])
  last = value(tags.gradient_norm(LAYERS[-1]))
  for layer in LAYERS[:-1]:
    np.testing.assert_allclose(value(tags.gradient_norm_relative(layer)),
                               value(tags.gradient_norm(layer)) / last, rtol=1e-5)


def test_the_flags_text_shows_the_widths_used(served):
  url = served[0]
  text, = get(url, "data/plugin/text/text", run=RUN, tag="run/flags")
  lines = re.sub(r"<[^>]+>", "", text["text"]).split()
  assert f"--hidden={','.join(map(str, CONFIG.widths))}" in lines
  assert "--hidden=" not in lines
  assert set(FLAGS) - {"--diagnostics"} <= set(lines) and "--diagnostics=True" in lines


def test_the_board_prints_the_address_that_pins_loss_accuracy_and_the_pictures(served):
  url, logdir, _, printed = served
  run, pictures = board.newest_pictures(url, str(logdir))
  assert run == RUN and set(pictures) == PICTURES
  assert pictures[0] == tags.picture(tags.OUTPUT)
  assert printed[1] == (f"open the lesson first (loss, accuracy and the pictures of {RUN}): "
                        f"{board.lesson_url(url, run, pictures)}\n")
  assert printed[2].endswith(f": {board.custom_scalars_url(url)}\n")
  address = urllib.parse.urlsplit(board.lesson_url(url, run, pictures))
  query = dict(urllib.parse.parse_qsl(address.query))
  assert address.fragment == "timeseries" and query["smoothing"] == "0"
  assert json.loads(query["pinnedCards"]) == [
      {"plugin": "scalars", "tag": tags.LOSS}, {"plugin": "scalars", "tag": tags.ACCURACY},
      *({"plugin": "images", "tag": t, "runId": f"{board.EXPERIMENT}/{RUN}", "sample": 0}
        for t in pictures)]
  # Every pinned tag is one TensorBoard serves: the address pins nothing that is not there.
  assert {tags.LOSS, tags.ACCURACY} <= set(get(url, "data/plugin/scalars/tags")[RUN])
  assert set(pictures) == set(get(url, "data/plugin/images/tags")[RUN])
