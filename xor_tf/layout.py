"""The Custom Scalars dashboard of a run: loss and accuracy, and each layer's gradient on one chart.

TensorBoard's Time Series dashboard gives every tag its own chart with its own y-axis, so the
30-fold gap between the first and the last layer's gradient norm of a deep sigmoid net cannot be
read off it. The custom scalars plugin draws the tags that match a regular expression on one
chart. Its layout has no log-scale option, so `gradient_norm_relative/<layer>` (each layer's norm
over the last layer's, `summaries.diagnose`) gives the gap as plain numbers.

TensorBoard merges the layouts of all runs by category and chart title, so the titles here name
no run.
"""

import re

import tensorflow as tf
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata

from xor_tf import tags

TAG = metadata.CONFIG_SUMMARY_TAG  # where TensorBoard looks for a run's layout
PLATEAUS = ("flat at ln 2 ≈ 0.693 (all four at 0.5) or ln 2 / 2 ≈ 0.347 (two points at 0.5): "
            "stuck")


def _chart(title, *patterns):
  return layout_pb2.Chart(title=title,
                          multiline=layout_pb2.MultilineChartContent(tag=list(patterns)))


def _exactly(tag):
  return f"^{re.escape(tag)}$"


def _every(tag_of):
  """The regular expression of every tag `tag_of(layer)` makes, whatever the layer's name."""
  return f"^{re.escape(tag_of(''))}"


def layout(diagnostics):
  """The run's `layout_pb2.Layout`: the lesson first, then (with --diagnostics) the gradients."""
  categories = [layout_pb2.Category(title="loss and accuracy", chart=[
      _chart(f"loss: {PLATEAUS}", _exactly(tags.LOSS)),
      _chart("accuracy: 1 when the net computes XOR", _exactly(tags.ACCURACY))])]
  if diagnostics:
    categories.append(layout_pb2.Category(title="the gradient, layer by layer", chart=[
        _chart("gradient norm of every layer, on one y-axis", _every(tags.gradient_norm)),
        _chart("each layer's gradient norm over the last layer's",
               _every(tags.gradient_norm_relative))]))
  return layout_pb2.Layout(category=categories)


def write(diagnostics):
  """Writes `layout(diagnostics)` to the default summary writer, at step 0; once per run."""
  return tf.summary.write(TAG, layout(diagnostics).SerializeToString(),
                          step=0, metadata=metadata.create_summary_metadata())
