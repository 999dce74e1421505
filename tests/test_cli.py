"""The command line: bad input fails at once in one line, runs never overwrite, flagfiles repeat."""

import os
import subprocess
import sys

import pytest

from conftest import REPO, run_module
from xor_tf import events

BAD_FLAGS = [
    (["--arch=dep"], "--arch=dep"),
    (["--learning_rate=-0.1"], "--learning_rate=-0.1"),
    (["--learning_rate=0"], "--learning_rate=0"),
    (["--learning_rate=nan"], "--learning_rate=nan"),
    (["--learning_rate=inf"], "--learning_rate=inf"),
    (["--steps=0"], "--steps=0"),
    (["--steps=-5"], "--steps=-5"),
    (["--log_every=0"], "--log_every=0"),
    (["--image_every=-1"], "--image_every=-1"),
    (["--checkpoint_every=0"], "--checkpoint_every=0"),
    (["--gradients=auto"], "--gradients=auto"),
    (["--arch=keras", "--gradients=manual"], "--arch=keras"),
    (["--trainer=fit"], "--trainer=fit"),
    (["--optimizer=rmsprop"], "--optimizer=rmsprop"),
    (["--loss=hinge"], "--loss=hinge"),
    (["--seed=-1"], "--seed=-1"),
    (["--hidden=3,,x"], "--hidden=3,,x"),
    (["--hidden=0"], "--hidden=0"),
    (["--hidden=-2"], "--hidden=-2"),
    (["--arch=logistic", "--hidden=3"], "--hidden=3"),
    (["--run_name=../elsewhere"], "--run_name=../elsewhere"),
    (["--run_name=a/b"], "--run_name=a/b"),
    (["--run_name="], "--run_name="),
    (["--archh=deep"], "archh"),
    (["stray"], "stray"),
]


@pytest.mark.parametrize("args,named", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_fails_in_one_line_and_writes_nothing(tmp_path, args, named):
  logdir = tmp_path / "logs"
  proc = run_module("xor_tf.train", f"--logdir={logdir}", *args)
  assert proc.returncode != 0
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith("xor_tf.train: error: ") and named in lines[0]
  assert any(word in lines[0].lower() for word in ("expect", "should be", "unknown")), lines[0]
  assert not logdir.exists()


@pytest.mark.parametrize("args", [["--help"], ["--arch=dep"], ["--learning_rate=-1"]])
def test_help_and_flag_errors_do_not_import_tensorflow(args):
  code = ("import sys\nfrom xor_tf import train\n"
          "try:\n  train.parse_flags(['train'] + sys.argv[1:])\n"
          "except SystemExit:\n  pass\n"
          "print('tensorflow' in sys.modules)")
  if args == ["--help"]:  # absl handles --help inside app.run, so run the real module
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "xor_tf.train", "--help"],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0 and "--learning_rate" in proc.stdout
    assert " tensorflow" not in proc.stderr  # -X importtime lists every imported module
    return
  proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                        cwd=REPO, check=False)
  assert proc.stdout.strip() == "False", proc.stderr


def test_help_explains_every_flag():
  proc = run_module("xor_tf.train", "--help")
  for flag in ("arch", "hidden", "steps", "learning_rate", "optimizer", "loss", "init", "seed",
               "logdir", "run_name", "log_every", "image_every", "gradients", "trainer",
               "checkpoint_every", "resume", "export"):
    assert f"--{flag}:" in proc.stdout or f"--[no]{flag}:" in proc.stdout, flag


def test_logdir_that_is_a_file(tmp_path):
  afile = tmp_path / "afile"
  afile.write_text("not a directory")
  for logdir in (afile, afile / "sub"):
    proc = run_module("xor_tf.train", f"--logdir={logdir}")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--logdir" in proc.stderr
  assert afile.read_text() == "not a directory"


def test_existing_run_is_never_overwritten(tmp_path):
  run_dir = tmp_path / "mine"
  run_dir.mkdir()
  (run_dir / "keep.txt").write_text("earlier run")
  proc = run_module("xor_tf.train", f"--logdir={tmp_path}", "--run_name=mine", "--steps=5")
  assert proc.returncode == 2 and "exists" in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1
  assert os.listdir(run_dir) == ["keep.txt"]


def test_run_prints_truth_table_and_flagfile_repeats_it(tmp_path):
  first = run_module("xor_tf.train", f"--logdir={tmp_path}", "--arch=nn", "--steps=300",
                     "--log_every=50", "--image_every=100", "--seed=3",
                     "--run_name=first")
  assert first.returncode == 0, first.stderr
  out = first.stdout
  for text in ("| x1 | x2 | probability | label | target |", "µs/step", "accuracy",
               f"run directory: {tmp_path / 'first'}", f"tensorboard --logdir {tmp_path}"):
    assert text in out
  flagfile = tmp_path / "first" / "flags.txt"
  again = run_module("xor_tf.train", f"--flagfile={flagfile}", "--run_name=again")
  assert again.returncode == 0, again.stderr
  assert sorted(os.listdir(tmp_path)) == ["again", "first"]
  a, b = events.read(str(tmp_path / "first")), events.read(str(tmp_path / "again"))
  assert set(a) == set(b)
  loss = lambda run: [(step, float(v)) for step, v in run["loss"]]
  assert loss(a) == loss(b) and [s for s, _ in loss(a)] == [0, 50, 100, 150, 200, 250, 300]


OTHER_COMMANDS = [
    ([sys.executable, "-m", "xor_tf.predict", "--bogus"], "xor_tf.predict", 2),
    ([sys.executable, os.path.join(REPO, "scripts", "seed_census.py"), "--seeds=0"],
     "seed_census.py", 2),
    ([sys.executable, os.path.join(REPO, "scripts", "seed_census.py"), "--archs=foo"],
     "seed_census.py", 2),
    ([sys.executable, os.path.join(REPO, "scripts", "ensemble_bench.py"), "--models=0"],
     "ensemble_bench.py", 2),
]


@pytest.mark.parametrize("argv,program,status", OTHER_COMMANDS,
                         ids=[" ".join(a[-2:]) for a, _, _ in OTHER_COMMANDS])
def test_other_commands_fail_in_one_line(argv, program, status):
  proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                        env=dict(os.environ, PYTHONPATH=REPO))
  assert proc.returncode == status and "Traceback" not in proc.stderr, proc.stderr
  line, = proc.stderr.strip().splitlines()
  assert line.startswith(f"{program}: error: flag") or line.startswith(f"{program}: error: Unknown")


def test_predict_help_exits_0():
  proc = run_module("xor_tf.predict", "--help", timeout=60)
  assert proc.returncode == 0 and "--model" in proc.stdout, proc.stderr
