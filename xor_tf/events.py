"""Reads a run's event files back with TensorBoard's own reader, nothing sampled away."""

from tensorboard.backend.event_processing import event_accumulator
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
