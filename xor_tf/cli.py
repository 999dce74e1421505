"""What every xor_tf command line shares: one-line flag errors, exit status 2 (no TensorFlow here)."""

import sys

from absl import flags


def fail(program, message, status=2):
  """Prints `program: error: message` as one line and exits with `status`."""
  sys.stderr.write(f"{program}: error: {message}\n")
  sys.exit(status)


def flags_parser(program):
  """An `app.run(flags_parser=...)` that reports bad flags in one line instead of absl's usage.

  absl's --help, --helpshort and --helpfull print the help and exit 1; help is not an error,
  so they exit 0 here. Stray positional arguments are refused.
  """

  def parse(argv):
    try:
      rest = flags.FLAGS(argv)
    except flags.Error as e:
      fail(program, str(e))
    except SystemExit as e:
      raise SystemExit(0 if e.code == 1 and any(a.startswith("--help") for a in argv)
                       else e.code)
    if len(rest) > 1:
      fail(program, f"unexpected arguments {rest[1:]}; all options are --flags (see --help).")
    return rest

  return parse
