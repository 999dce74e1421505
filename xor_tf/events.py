"""Reads a run's event files back with TensorBoard's own reader, nothing sampled away, and
checks that what a run writes reaches its event file."""

import os
import struct

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

_KEEP_EVERYTHING = {kind: 0 for kind in event_accumulator.DEFAULT_SIZE_GUIDANCE}


def read(run_dir):
  """Returns {tag: [(step, value), ...]} in file order for every tensor summary.

  TF2 writes scalars, histograms, images and text all as tensor summaries; a step written twice
  appears twice.
  """
  acc = event_accumulator.EventAccumulator(run_dir, size_guidance=_KEEP_EVERYTHING)
  acc.Reload()
  return {tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
          for tag in acc.Tags()["tensors"]}


def accumulator(run_dir):
  """A loaded EventAccumulator, for what `read` leaves out (graphs, plugin metadata)."""
  acc = event_accumulator.EventAccumulator(run_dir, size_guidance=_KEEP_EVERYTHING)
  acc.Reload()
  return acc


class WriteFailed(Exception):
  """Summaries that a run wrote did not reach its event file (a full disk, a vanished file)."""


class WriteCheck:
  """Checks, after each write, that a writer's events reached its event file whole.

  TensorFlow's summary writer drops a failed write silently (on a full disk the file ends in a
  truncated record and training would go on writing nothing), so this reads back what was
  appended since the last check: complete records only, the last one at the step written.

  Create it before the writer, so that the writer's event file is the one that is new.
  """

  def __init__(self, run_dir):
    self.run_dir = run_dir
    self.before = set(_event_files(run_dir))
    self.path = None
    self.offset = 0
    self.last_step = -1

  def __call__(self, step):
    """Raises WriteFailed unless the file ends in whole records, the last at `step` (if >= 0)."""
    if step < 0 or (step == self.last_step and self.path is not None):
      expect = None
    else:
      expect = step
    if self.path is None:
      new = sorted(set(_event_files(self.run_dir)) - self.before)
      if not new:
        if expect is None:
          return
        raise WriteFailed(f"summaries of step {step} were written, but {self.run_dir!r} holds "
                          "no new event file")
      self.path = new[-1]
    try:
      with open(self.path, "rb") as f:
        f.seek(self.offset)
        tail = f.read()
    except OSError as e:
      raise WriteFailed(f"cannot read back {self.path!r}: {e.strerror or e}") from None
    position, last = 0, None
    while len(tail) - position >= 12:
      length, = struct.unpack("<Q", tail[position:position + 8])
      end = position + 12 + length + 4
      if end > len(tail):
        break
      last = tail[position + 12:position + 12 + length]
      position = end
    if position != len(tail):
      raise WriteFailed(f"{self.path!r} ends in a truncated record ({len(tail) - position} "
                        "bytes): a write did not reach the disk")
    self.offset += position
    if expect is not None:
      got = event_pb2.Event.FromString(last).step if last is not None else None
      if got != expect:
        raise WriteFailed(f"the summaries of step {expect} are not in {self.path!r} (its last "
                          f"new event is at step {got}): a write did not reach the disk")
      self.last_step = expect


def _event_files(run_dir):
  try:
    return [os.path.join(run_dir, name) for name in os.listdir(run_dir)
            if name.startswith("events.out.tfevents.")]
  except OSError:
    return []
