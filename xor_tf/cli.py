"""What every xor_tf command line shares: one-line flag errors, exit status 2 (no TensorFlow here)."""

import re
import sys

from absl import flags


def fail(program, message, status=2):
  """Prints `program: error: message` as one line and exits with `status`."""
  # A received value may hold a newline or other control characters: show them escaped.
  message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
  sys.stderr.write(f"{program}: error: {message}\n")
  sys.exit(status)


def flags_parser(program, positional=False):
  """An `app.run(flags_parser=...)` that reports bad flags in one line instead of absl's usage.

  absl's --help, --helpshort and --helpfull print the help and exit 1; help is not an error,
  so they exit 0 here. Stray positional arguments are refused unless `positional`.
  """

  def parse(argv):
    try:
      rest = flags.FLAGS(argv)
    except flags.Error as e:
      fail(program, str(e))
    except UnicodeDecodeError as e:  # absl reads a --flagfile as text
      fail(program, f"--flagfile expects a UTF-8 text file; received one with byte "
                    f"{e.object[e.start:e.start + 1]!r} at offset {e.start}.")
    except OSError as e:
      fail(program, f"--flagfile expects a readable file; received {e.filename!r} "
                    f"({e.strerror or e}).")
    except SystemExit as e:
      raise SystemExit(0 if e.code == 1 and any(a.startswith("--help") for a in argv)
                       else e.code)
    if len(rest) > 1 and not positional:
      fail(program, f"unexpected arguments {rest[1:]}; all options are --flags (see --help).")
    return rest

  return parse


def one_line(error):
  """The gist of an exception as one line: OSError's text, or a TensorFlow error's message
  without its graph-node prefix, at most 300 characters."""
  if isinstance(error, OSError) and error.strerror:
    text = f"{error.strerror}: {error.filename!r}" if error.filename else error.strerror
  else:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
  if "Detected at node" in text:  # a graph's error: its op's own message follows the trace
    parts = [p for p in text.split("\n\n") if p.strip() and not p.startswith(
        ("Graph execution error", "Detected at node", "Detected in"))]
    text = parts[-1] if parts else text
  text = re.sub(r"\{\{[^}]*\}\}\s*", "", text)
  text = " ".join(text.split())
  return text if len(text) <= 300 else text[:297] + "..."
