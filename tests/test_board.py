"""A real TensorBoard from xor_tf.board serves a run's scalars, histograms, images, text, graph."""

import contextlib
import glob
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
import tensorflow as tf

from conftest import REPO, run_module
from xor_tf import board
from xor_tf import pictures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SERVE_TIMEOUT = 30  # seconds for TensorBoard to load a run and list all of it

TINY_RUN = {
    "scalars": {"loss", "accuracy"},
    "histograms": {"weights/layer1/kernel"},
    "images": {"pictures/output"},
    "text": {"truth_table"},
    "graph": True,
}


def write_tiny_run(run_dir):
  """A run with each kind of summary, written with tf.summary directly."""
  writer = tf.summary.create_file_writer(str(run_dir))
  with writer.as_default():
    for step in range(3):
      tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
      tf.summary.scalar("accuracy", step / 2, step=step)
      tf.summary.histogram("weights/layer1/kernel",
                           tf.random.stateless_normal([20], seed=[0, step]), step=step)
      p = tf.fill([pictures.GRID ** 2], step / 2)
      tf.summary.image("pictures/output", pictures.decision_boundary(p), step=step)
    tf.summary.text("truth_table", "| x1 | x2 | p |\n|---|---|---|\n| 0 | 0 | 0.01 |", step=2)
    double = tf.function(lambda x: 2.0 * x).get_concrete_function(tf.TensorSpec([4, 2]))
    tf.summary.graph(double.graph)
  writer.close()


def write_traced_graph(run_dir):
  """A run holding only a graph, traced by tf.summary.trace_on / trace_export under a tag."""
  writer = tf.summary.create_file_writer(str(run_dir))
  double = tf.function(lambda x: 2.0 * x)
  tf.summary.trace_on(graph=True)
  double(tf.zeros([4, 2]))
  with writer.as_default():
    tf.summary.trace_export("double", step=0)
  writer.close()


@contextlib.contextmanager
def tensorboard_on(logdir):
  """A TensorBoard on `logdir` for the block; stopped however the block ends. Yields its URL."""
  process, url = board.start(str(logdir), extra_args=["--reload_interval=1"])
  try:
    yield url
  finally:
    board.stop(process)
    assert process.poll() is not None


def get(url, route, **query):
  """The body of `url + route?query`, parsed as JSON if it is JSON."""
  full = url + route + ("?" + urllib.parse.urlencode(query) if query else "")
  with urllib.request.urlopen(full, timeout=10) as response:
    body = response.read()
    is_json = response.headers.get_content_type() == "application/json"
  return json.loads(body) if is_json else body


def listing(url, run):
  """What TensorBoard lists for `run`, in the shape of `expected` in check_run_served."""
  graphs = get(url, "data/plugin/graphs/info").get(run, {})
  return {
      "scalars": set(get(url, "data/plugin/scalars/tags").get(run, {})),
      "histograms": set(get(url, "data/plugin/histograms/tags").get(run, {})),
      "images": set(get(url, "data/plugin/images/tags").get(run, {})),
      "text": set(get(url, "data/plugin/text/tags").get(run, [])),
      # A run-wide GraphDef (tf.summary.graph), or an op graph traced under a tag.
      "graph": bool(graphs.get("run_graph")) or any(
          t["op_graph"] for t in graphs.get("tags", {}).values()),
  }


def check_run_served(url, run, expected, timeout=SERVE_TIMEOUT):
  """Asserts that the TensorBoard at `url` serves `run` with exactly the expected tags.

  Waits (up to `timeout` s) for TensorBoard to load the run, then reads one value of each
  kind through the plugins' data routes: a scalar series, a histogram, an image's PNG bytes,
  a text and the graph.

  Args:
    url: TensorBoard's URL, ending with '/'.
    run: the run's name, its directory relative to the log directory.
    expected: {'scalars', 'histograms', 'images', 'text': set of tags, 'graph': bool}.
    timeout: seconds to wait for the listing to match.

  Returns:
    The listing as served.
  """
  deadline = time.monotonic() + timeout
  while True:
    runs = get(url, "data/runs")
    served = listing(url, run) if run in runs else None
    if served == expected or time.monotonic() > deadline:
      break
    time.sleep(0.5)
  assert run in runs, f"run {run!r} not among the runs TensorBoard lists: {runs}"
  assert served == expected

  enabled = {name for name, p in get(url, "data/plugins_listing").items() if p["enabled"]}
  dashboards = {kind for kind in ("scalars", "histograms", "images", "text") if expected[kind]}
  assert dashboards | ({"graphs"} if expected["graph"] else set()) <= enabled

  for tag in expected["scalars"]:
    assert get(url, "data/plugin/scalars/scalars", run=run, tag=tag), tag  # [[time, step, value]]
  for tag in expected["histograms"]:
    assert get(url, "data/plugin/histograms/histograms", run=run, tag=tag), tag
  for tag in expected["images"]:
    first = get(url, "data/plugin/images/images", run=run, tag=tag, sample=0)[0]
    image = get(url, "data/plugin/images/individualImage?" + first["query"])
    assert image.startswith(PNG_SIGNATURE), tag
  for tag in expected["text"]:
    assert get(url, "data/plugin/text/text", run=run, tag=tag)[0]["text"], tag
  if expected["graph"]:
    graphs = get(url, "data/plugin/graphs/info")[run]
    tagged = [tag for tag, t in graphs["tags"].items() if t["op_graph"]]
    query = {} if graphs["run_graph"] else {"tag": tagged[0]}
    assert b"node {" in get(url, "data/plugin/graphs/graph", run=run, **query)
  return served


def test_tensorboard_serves_every_kind_of_summary(tmp_path):
  write_tiny_run(tmp_path / "tiny")
  write_traced_graph(tmp_path / "traced")
  with tensorboard_on(tmp_path) as url:
    assert url.startswith(f"http://{board.HOST}:")
    check_run_served(url, "tiny", TINY_RUN)
    check_run_served(url, "traced", {"scalars": set(), "histograms": set(), "images": set(),
                                     "text": set(), "graph": True})
    images = get(url, "data/plugin/images/images", run="tiny", tag="pictures/output", sample=0)
    assert [i["step"] for i in images] == [0, 1, 2]
    # Bound to 127.0.0.1 alone: another loopback address of this machine is refused.
    port = urllib.parse.urlsplit(url).port
    with pytest.raises(OSError):
      socket.create_connection(("127.0.0.2", port), timeout=2).close()
  with pytest.raises(OSError):
    urllib.request.urlopen(url, timeout=2)


def tensorboard_children():
  """Our child processes that run TensorBoard, from /proc (empty where there is no /proc)."""
  found = []
  for stat in glob.glob("/proc/[0-9]*/stat"):
    with contextlib.suppress(OSError):
      with open(stat) as f:
        fields = f.read().rsplit(")", 1)[1].split()
      with open(stat.replace("stat", "cmdline"), "rb") as f:
        cmdline = f.read()
      if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"tensorboard" in cmdline:
        found.append(stat)
  return found


def test_start_reports_a_port_in_use_and_leaves_no_process(tmp_path):
  with socket.socket() as taken:
    taken.bind((board.HOST, 0))
    taken.listen()
    port = taken.getsockname()[1]
    with pytest.raises(RuntimeError, match=f"port {port}"):
      board.start(str(tmp_path), port, timeout=SERVE_TIMEOUT)
  assert not tensorboard_children()


def test_help_answers_without_tensorflow():
  env = dict(os.environ, PYTHONPATH=REPO)
  proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "xor_tf.board", "--help"],
                        capture_output=True, text=True, env=env, timeout=60, check=False)
  assert proc.returncode == 0 and "--logdir" in proc.stdout and "--port" in proc.stdout
  assert " tensorflow" not in proc.stderr and " tensorboard" not in proc.stderr
  bad = run_module("xor_tf.board", "--port=70000", timeout=60)
  assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--port" in bad.stderr


def test_tensorboard_serves_an_xor_tf_run(tmp_path):
  """The integration test: a fresh short xor_tf run, as the real TensorBoard serves it."""
  import io
  from xor_tf import config as config_lib
  from xor_tf import experiment
  config = config_lib.Config(arch="nn", steps=200, log_every=50, image_every=100)
  experiment.run(config, logdir=str(tmp_path), run_name="xor", out=io.StringIO(),
                 flag_lines=["--arch=nn", "--steps=200"])
  params = [f"layer{i}/{v}" for i in (1, 2) for v in ("kernel", "bias")]
  expected = {
      "scalars": {"loss", "accuracy"},
      "histograms": {*(f"weights/{p}" for p in params), "activations/layer1",
                     "activations/output"},
      "images": {"pictures/decision_boundary", "pictures/layer1", "pictures/hidden_space"},
      "text": {"run/flags", "run/truth_table"},
      "graph": True,
  }
  with tensorboard_on(str(tmp_path)) as url:
    check_run_served(url, "xor", expected)


def descendants(pid):
  """PIDs of every process below `pid`, from /proc."""
  children = {}
  for entry in os.listdir("/proc"):
    if entry.isdigit():
      try:
        with open(f"/proc/{entry}/stat") as f:
          ppid = int(f.read().rsplit(")", 1)[1].split()[1])
      except (OSError, IndexError, ValueError):
        continue
      children.setdefault(ppid, []).append(int(entry))
  found, todo = [], [pid]
  while todo:
    for child in children.get(todo.pop(), []):
      found.append(child)
      todo.append(child)
  return found


def alive(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


@pytest.mark.parametrize("signum", [15, 9])  # kill <pid>, kill -9 <pid>
def test_killing_board_stops_tensorboard_and_its_data_server(tmp_path, signum):
  if not os.path.isdir("/proc"):
    pytest.skip("reads /proc to find TensorBoard's processes")
  env = dict(os.environ, PYTHONPATH=REPO)
  proc = subprocess.Popen([sys.executable, "-u", "-m", "xor_tf.board", f"--logdir={tmp_path}",
                           "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env=env)
  started = []
  try:
    for line in proc.stdout:
      if line.startswith("TensorBoard on"):
        break
    started += descendants(proc.pid)
    assert started, "TensorBoard is not running under xor_tf.board"
    os.kill(proc.pid, signum)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30  # a bound on the test, not a claim about speed
    while any(alive(p) for p in started) and time.monotonic() < deadline:
      time.sleep(0.2)
    assert not [p for p in started if alive(p)]
  finally:
    proc.kill()
    for p in started:  # orphans are no longer below proc
      with contextlib.suppress(OSError):
        os.kill(p, 9)
