"""Screenshots of what a learner sees first in TensorBoard, from a real TensorBoard, for the README.

Starts `xor_tf.board`'s TensorBoard on a log directory (by default: a stuck `nn` run and a
`deep --diagnostics` run, trained into a temporary one), opens in headless Chromium the address
`python -m xor_tf.board` prints, and saves:

  <out>/first_screen.png     Time Series as that address opens it: loss and accuracy, the pictures
  <out>/custom_scalars.png   the Custom Scalars dashboard: every layer's gradient norm on one chart
  <out>/<tag>.png            for each --image_tag, that picture's card ('/' becomes '_')

Usage:
  python scripts/screenshots.py                                   # train, shoot, into docs/
  python scripts/screenshots.py --logdir=logs --run=deep-... --image_tag=pictures/hidden_space
  python scripts/screenshots.py --train="--arch=nn --seed=3 --run_name=stuck" --out=shots

Chromium draws Time Series charts with WebGL, which headless Chromium lacks: the addresses carry
TensorBoard's own `forceSVG=true`. Needs `chromium` (apt-get install chromium) or --chromium.
"""

import http.server
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from xor_tf import board  # pylint: disable=g-import-not-at-top
from xor_tf import cli  # pylint: disable=g-import-not-at-top

PROGRAM = "screenshots.py"
# A stuck 2-2-1 net (seed 3 sits at ln 2 / 2) beside the deep net, whose pictures are pinned.
DEFAULT_TRAIN = ["--arch=nn --seed=3 --run_name=nn-stuck",
                 "--arch=deep --diagnostics --run_name=deep"]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")

_LOGDIR = flags.DEFINE_string(
    "logdir", None, "Log directory to show. Default: a temporary one, into which --train trains.")
_TRAIN = flags.DEFINE_multi_string(
    "train", None, "Flags of a run of `python -m xor_tf.train` to train into --logdir first "
    "(repeatable). Default, when --logdir is not given: "
    f"{' and '.join(map(repr, DEFAULT_TRAIN))}.")
_RUN = flags.DEFINE_string(
    "run", None, "Run whose pictures are shown. Default: the newest run with pictures, as "
    "`python -m xor_tf.board` pins it.")
_IMAGE_TAG = flags.DEFINE_multi_string(
    "image_tag", [], "An image tag of --run to shoot on its own, e.g. pictures/hidden_space.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs"),
    "Directory that receives the PNG files.")
_WIDTH = flags.DEFINE_integer("width", 1400, "Browser window width, px.", lower_bound=400,
                              upper_bound=4000)
_HEIGHT = flags.DEFINE_integer("height", 1000, "Browser window height, px.", lower_bound=300,
                               upper_bound=4000)
_WAIT = flags.DEFINE_integer(
    "wait_ms", 15000, "Virtual time Chromium gives the page to load before each shot, ms.",
    lower_bound=1000, upper_bound=120000)
_IGNORE_OUTLIERS = flags.DEFINE_boolean(
    "ignore_outliers", False, "Shoot the Custom Scalars dashboard with its 'Ignore outliers in "
    "chart scaling' on, as TensorBoard opens it. Default: off, as after one click on it, so "
    "that the large step-0 gradients stay on the chart.")
_CHROMIUM = flags.DEFINE_string("chromium", None, f"Browser binary. Default: the first of "
                                f"{', '.join(BROWSERS)} on PATH.")


def fail(message, status=2):
  cli.fail(PROGRAM, message, status)


def with_svg(url):
  """`url` with TensorBoard's forceSVG=true in its query, which headless Chromium needs."""
  parts = urllib.parse.urlsplit(url)
  query = "&".join(q for q in ("forceSVG=true", parts.query) if q)
  return urllib.parse.urlunsplit(parts._replace(query=query))


# TensorBoard keeps the custom scalars dashboard's "Ignore outliers in chart scaling" in the
# browser's localStorage, not in the address: set it to false for TensorBoard's origin.
_SHOW_OUTLIERS = (b"<script>localStorage.setItem('_ignoreYOutliers', 'false');"
                  b"document.title = 'set';</script>")


def free_port():
  with socket.socket() as s:
    s.bind((board.HOST, 0))
    return s.getsockname()[1]


def show_outliers(browser, profile, port):
  """Unchecks 'Ignore outliers' for http://127.0.0.1:`port` in the Chromium `profile`.

  localStorage belongs to an origin, so a page served from that port, before TensorBoard
  serves there, sets it, as a click on the checkbox would.
  """

  class Page(http.server.BaseHTTPRequestHandler):

    def do_GET(self):  # pylint: disable=invalid-name
      self.send_response(200)
      self.send_header("Content-Type", "text/html")
      self.end_headers()
      self.wfile.write(_SHOW_OUTLIERS)

    def log_message(self, *args):
      pass

  with http.server.HTTPServer((board.HOST, port), Page) as server:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
      subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                      f"--user-data-dir={profile}", "--dump-dom", f"http://{board.HOST}:{port}/"],
                     capture_output=True, timeout=120, check=False)
    finally:
      server.shutdown()


def shoot(browser, url, path, width, height, wait_ms, profile=None):
  """Saves Chromium's screenshot of `url` to `path`; raises RuntimeError if it saved none.

  profile: Chromium's user data directory; default: a fresh one (no pins or settings kept).
  """
  with tempfile.TemporaryDirectory() as fresh:
    profile = profile or fresh
    done = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={profile}", f"--window-size={width},{height}",
         f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url],
        capture_output=True, text=True, timeout=120 + wait_ms / 1000, check=False)
  if done.returncode != 0 or not os.path.isfile(path):
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"{browser} saved no screenshot of {url} (exit {done.returncode}): {last}")
  print(f"saved {path}", flush=True)


def train(logdir, runs):
  for line in runs:
    args = [sys.executable, "-m", "xor_tf.train", f"--logdir={logdir}", *shlex.split(line)]
    print(f"training: {' '.join(map(shlex.quote, args[1:]))}", flush=True)
    done = subprocess.run(args, capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__))) + os.pathsep
                                   + os.environ.get("PYTHONPATH", "")))
    if done.returncode != 0:
      fail(f"--train {line!r} expected a run that trains; it exited {done.returncode}: "
           f"{(done.stderr.strip().splitlines() or [''])[-1]}", status=1)


def main(argv):
  del argv
  browser = _CHROMIUM.value or next(filter(None, map(shutil.which, BROWSERS)), None)
  if not browser or not shutil.which(browser):
    fail(f"expected a Chromium to take the screenshots (--chromium, or one of "
         f"{', '.join(BROWSERS)} on PATH); received {_CHROMIUM.value or 'none on PATH'}.")
  if _LOGDIR.value is not None and not os.path.isdir(_LOGDIR.value):
    fail(f"--logdir expects a directory of runs; received {_LOGDIR.value!r}.")
  for tag in _IMAGE_TAG.value:
    if not tag.startswith("pictures/"):
      fail(f"--image_tag expects a picture tag such as pictures/decision_boundary; "
           f"received {tag!r}.")
  with tempfile.TemporaryDirectory(prefix="xor_tf_shots_") as scratch:
    logdir = _LOGDIR.value or os.path.join(scratch, "logs")
    os.makedirs(logdir, exist_ok=True)
    runs = _TRAIN.value if _TRAIN.value is not None else (
        [] if _LOGDIR.value else DEFAULT_TRAIN)
    train(logdir, runs)
    os.makedirs(_OUT.value, exist_ok=True)
    port = free_port()
    profile = os.path.join(scratch, "chromium-profile")
    if not _IGNORE_OUTLIERS.value:
      show_outliers(browser, profile, port)
    process, url = board.start(logdir, port)
    try:
      run, pictures = board.newest_pictures(url, logdir)
      if _RUN.value is not None:
        run = _RUN.value
        pictures = board.picture_order(board.picture_tags(url, run))
        if not pictures:
          fail(f"--run expects a run with pictures in {logdir!r}; received {run!r}.")
      if _IMAGE_TAG.value and run is None:
        fail(f"--image_tag expects a run with pictures in {logdir!r}; it holds none.")
      missing = sorted(set(_IMAGE_TAG.value) - set(pictures))
      if missing:
        fail(f"--image_tag expects tags of run {run!r} ({', '.join(pictures)}); received "
             f"{', '.join(missing)}.")
      size = (_WIDTH.value, _HEIGHT.value, _WAIT.value)
      shoot(browser, with_svg(board.lesson_url(url, run, pictures)),
            os.path.join(_OUT.value, "first_screen.png"), *size)
      shoot(browser, with_svg(board.custom_scalars_url(url)),
            os.path.join(_OUT.value, "custom_scalars.png"), *size, profile=profile)
      for tag in _IMAGE_TAG.value:
        query = urllib.parse.urlencode({"tagFilter": f"^{re.escape(tag)}$",
                                        "runFilter": f"^{re.escape(run)}$"})
        shoot(browser, with_svg(f"{url}?{query}#timeseries"),
              os.path.join(_OUT.value, tag.replace("/", "_") + ".png"), *size)
    except RuntimeError as e:
      fail(str(e), status=1)
    finally:
      board.stop(process)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser(PROGRAM))
