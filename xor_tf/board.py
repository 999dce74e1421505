"""Starts TensorBoard on the log directory, for this machine only: `python -m xor_tf.board`.

TensorBoard runs as a child process (`python -m tensorboard.main`) bound to 127.0.0.1, so this
module imports neither TensorFlow nor TensorBoard, and `--help` answers at once. Tests use
`start` and `stop` to check what a real TensorBoard serves for a run.
"""

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from absl import app
from absl import flags

from xor_tf import cli
from xor_tf import tags

HOST = "127.0.0.1"
# TensorBoard keeps 10 images per tag unless told otherwise; a run draws its pictures at every
# logging step, and a learner should be able to step through all of them. Not images=0 ("keep
# all"): TensorBoard 2.21's image dashboard then asks its data server for 0 images and shows none.
SAMPLES_PER_PLUGIN = "images=1000"
# The id TensorBoard's web app gives a run of a single log directory: f"{EXPERIMENT}/{run}".
EXPERIMENT = "defaultExperimentId"
LISTING_TIMEOUT = 10.0  # seconds to wait for TensorBoard to list the runs already on disk
_SERVING = re.compile(r"TensorBoard \S+ at (http://\S+) \(Press CTRL\+C to quit\)")


def command(logdir, port, extra_args=()):
  """The command line of a TensorBoard on `logdir` bound to 127.0.0.1:`port` (0: any free port)."""
  return [sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}", f"--host={HOST}",
          f"--port={port}", f"--samples_per_plugin={SAMPLES_PER_PLUGIN}", *extra_args]


def _die_with_parent():  # runs in the child between fork and exec (Linux)
  try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass


def start(logdir, port=0, *, timeout=60.0, extra_args=(), echo=None, die_with_parent=False):
  """Starts TensorBoard on `logdir` and waits until it answers HTTP requests.

  Args:
    logdir: directory of run directories.
    port: port on 127.0.0.1; 0 lets the system pick a free one.
    timeout: seconds to wait for TensorBoard to answer.
    extra_args: more TensorBoard flags, such as ['--reload_interval=1'].
    echo: a text file that receives TensorBoard's output once it serves (its start-up
      notices are kept back, and shown only if it fails to start), or None.
    die_with_parent: on Linux, have the kernel send TensorBoard SIGTERM when this process
      dies, even by SIGKILL, so it is never left serving alone.

  Returns:
    (process, url): the running `subprocess.Popen` and the URL it serves, ending with '/'.

  Raises:
    RuntimeError: if TensorBoard exits or does not answer within `timeout`, with its output.
  """
  process = subprocess.Popen(command(logdir, port, extra_args), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                             preexec_fn=_die_with_parent if die_with_parent else None)
  output = []
  served = threading.Event()
  found = {}

  def read():
    # A reader thread, so a chatty TensorBoard never blocks on a full pipe.
    for line in process.stdout:
      output.append(line)
      match = _SERVING.search(line)
      if match and not served.is_set():
        found["url"] = match.group(1)
        served.set()
      elif served.is_set() and echo is not None:
        echo.write(line)
        echo.flush()
    served.set()  # TensorBoard exited: stop waiting

  threading.Thread(target=read, daemon=True).start()
  deadline = time.monotonic() + timeout
  try:
    served.wait(timeout)
    if "url" not in found:
      raise RuntimeError(_failure("TensorBoard exited before serving" if process.poll() is not None
                                  else f"TensorBoard did not start within {timeout:g} s", output))
    url = found["url"]
    while not _answers(url + "data/logdir"):
      if process.poll() is not None or time.monotonic() > deadline:
        raise RuntimeError(_failure(f"TensorBoard did not answer at {url}", output))
      time.sleep(0.1)
  except BaseException:
    stop(process)
    raise
  return process, url


def _answers(url):
  try:
    with urllib.request.urlopen(url, timeout=2) as response:
      return response.status == 200
  except (urllib.error.URLError, OSError):
    return False


def _failure(what, output, lines=5):
  last = "".join(output[-lines:]).strip()
  return f"{what}; its last output:\n{last}" if last else f"{what}, printing nothing."


def stop(process, timeout=10.0):
  """Stops a TensorBoard from `start`: terminate, kill after `timeout` s; returns its exit code.

  Its data server child exits by itself when TensorBoard does (it watches its stdin).
  """
  if process.poll() is None:
    process.terminate()
    try:
      process.wait(timeout)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait(timeout)
  if process.stdout is not None:
    process.stdout.close()
  return process.returncode


def lesson_url(url, run=None, pictures=()):
  """The address that opens TensorBoard on the lesson, with no click.

  TensorBoard 2.21's Time Series dashboard groups cards by the tag's text before its first '/',
  sorts the groups by name and opens the first two only (`accuracy` and `activations`, a
  histogram per layer and run, before `loss` and `pictures`). What an address can set is its query (`pinnedCards`,
  `smoothing`, `tagFilter`, `runColorGroup`, `runFilter`): pinned cards come first, open, side
  by side. So this pins `loss` and `accuracy` (every run on one chart each) and `run`'s
  pictures, turns smoothing off so that a plateau reads at its true value (ln 2 ≈ 0.693,
  ln 2 / 2 ≈ 0.347), and leaves the histograms below.

  Args:
    url: TensorBoard's address, ending with '/'.
    run: the run whose pictures to pin (an image card shows one run), or None.
    pictures: that run's image tags, in the order to show them.
  """
  cards = [{"plugin": "scalars", "tag": tags.LOSS}, {"plugin": "scalars", "tag": tags.ACCURACY}]
  cards += [{"plugin": "images", "tag": tag, "runId": f"{EXPERIMENT}/{run}", "sample": 0}
            for tag in pictures]
  query = urllib.parse.urlencode({"pinnedCards": json.dumps(cards, separators=(",", ":")),
                                  "smoothing": 0})
  return f"{url}?{query}#timeseries"


def custom_scalars_url(url):
  """The address of the Custom Scalars dashboard (`xor_tf.layout`), smoothing off.

  That dashboard keeps its smoothing in the address's fragment; its "Ignore outliers in chart
  scaling" lives in the browser's localStorage, out of an address's reach.
  """
  return f"{url}#custom_scalars&_smoothingWeight=0"


def _natural(tag):
  """'pictures/layer10' after 'pictures/layer9', as TensorBoard sorts tags."""
  return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", tag)]


def picture_order(picture_tags):
  """The decision boundary first, then the other pictures in TensorBoard's order."""
  first = tags.picture(tags.OUTPUT)
  return sorted(picture_tags, key=lambda t: (t != first, _natural(t)))


def _run_dirs(logdir):
  """Directories under `logdir` that hold event files: the runs TensorBoard will list."""
  return {os.path.relpath(d, logdir) for d, _, files in os.walk(logdir)
          if any(".tfevents." in f for f in files)}


def _get_json(url):
  with urllib.request.urlopen(url, timeout=5) as response:
    return json.loads(response.read())


def newest_pictures(url, logdir, timeout=LISTING_TIMEOUT):
  """(run, its picture tags) of the newest run with pictures that TensorBoard lists, or (None, ()).

  Waits, up to `timeout` s, until TensorBoard lists every run that `logdir` holds now; runs are
  listed in the order they started (`data/runs`).
  """
  expected = _run_dirs(logdir) if os.path.isdir(logdir) else set()
  deadline = time.monotonic() + timeout
  while True:
    try:
      runs = _get_json(url + "data/runs")
      images = _get_json(url + "data/plugin/images/tags")
    except (urllib.error.URLError, OSError, ValueError):
      runs, images = [], {}
    if expected <= set(runs) or time.monotonic() > deadline:
      break
    time.sleep(0.2)
  for run in reversed(runs):
    pictures = _pictures(images, run)
    if pictures:
      return run, picture_order(pictures)
  return None, ()


def _pictures(images, run):
  return [t for t in images.get(run, {}) if tags.is_picture(t)]


def picture_tags(url, run):
  """The picture tags TensorBoard at `url` lists for `run` (none if it lists no such run)."""
  return _pictures(_get_json(url + "data/plugin/images/tags"), run)


def _define_flags():
  # Defined only when run as a program: tests import start and stop into the same process as
  # xor_tf.train, which also defines --logdir.
  logdir = flags.DEFINE_string(
      "logdir", "logs", "Directory of run directories to show; runs that appear in it later "
      "show up too.")
  port = flags.DEFINE_integer(
      "port", 6006, "Port on 127.0.0.1 to serve on; 0 picks a free one.", lower_bound=0,
      upper_bound=65535)
  return logdir, port


def fail(message, status=2):
  cli.fail("xor_tf.board", message, status)


parse_flags = cli.flags_parser("xor_tf.board")


def _interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def main(logdir, port):
  # `kill` (SIGTERM) or a closed terminal (SIGHUP) stop TensorBoard as Ctrl-C does.
  for s in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, _interrupt)
  if not os.path.isdir(logdir):
    print(f"{logdir}/ holds no runs yet; train one with: python -m xor_tf.train", flush=True)
  try:
    process, url = start(logdir, port, echo=sys.stderr, die_with_parent=True)
  except KeyboardInterrupt:
    return
  except RuntimeError as e:
    fail(f"{e}{' (is the port taken? --port=0 picks a free one)' if port else ''}", status=1)
  print(f"TensorBoard on {logdir}/ at {url} (Ctrl+C stops it)", flush=True)
  try:
    run, pictures = newest_pictures(url, logdir)
    shown = f" and the pictures of {run}" if run else ""
    print(f"open the lesson first (loss, accuracy{shown}): {lesson_url(url, run, pictures)}\n"
          f"every layer's gradient norm on one chart (--diagnostics runs): "
          f"{custom_scalars_url(url)}",
          flush=True)
    process.wait()
  except KeyboardInterrupt:
    pass
  finally:
    stop(process)


if __name__ == "__main__":
  _LOGDIR, _PORT = _define_flags()
  app.run(lambda argv: main(_LOGDIR.value, _PORT.value), flags_parser=parse_flags)
