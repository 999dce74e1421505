"""Many seeds of one configuration trained at once: a model axis on every weight, one compiled loop.

A stack of M networks is the single network's parameters with a model axis of size M, and it
trains through the very train step of a single run (`xor_tf.step.train_step`): the network is a
`models.Stack`, whose forward pass is the single network's with a layer function for a stack
(`models.dense_stack`), the loss is one per network and each network learns from its own, and
the optimizers' updates are elementwise. Inside the compiled loop every weight and optimizer
slot carries the model axis LAST ([in, out, M]), the layout XLA vectorises; what goes in and
comes out has it first: `initial_params` gives kernel [M, in, out] holding exactly each seed's
`models.initial_value`, and `Results` holds per-seed arrays [M]. From the loss and accuracy
the step returns, the loop records per model the first step at which all four points were
right and the first step whose loss was not finite. A model that diverges keeps its NaNs to
itself: nothing mixes models. The loop also keeps each model's loss and accuracy curve: at each
of its steps (`default_curve_steps`: a single run's default picture steps, 0, 10, 20, 30, 50,
70, 100, 200, ... and the last) the step's own loss and accuracy go into a buffer the loop
carries: the numbers a single run of that seed logs at that step (within float32 rounding, a
few 1e-7 relative: the step's forward pass, not a second one). (Taken between compiled
chunks instead, the extra chunk ends cost 1-2 ms a block each: ~0.9 s of a 300-step ensemble
of 10,000 deep nets in 80 blocks.)

With a `tf.distribute` strategy the model axis is split over its replicas (MirroredStrategy over
one machine's devices, MultiWorkerMirroredStrategy over machines): each replica trains its
slice of the seeds and the per-seed results are gathered back in seed order.
"""
import concurrent.futures
import dataclasses
import math
import os
import time

import numpy as np
import tensorflow as tf

from xor_tf import config as config_lib
from xor_tf import data
from xor_tf import losses
from xor_tf import models
from xor_tf import optim
from xor_tf import step as step_lib
from xor_tf import summaries
from xor_tf import tags
from xor_tf import training

NEVER = -1  # solved_step / diverged_step of a model that never got there
# A chunk is about this many parameter-updates (models x parameters x steps), ~1 s at the
# ensemble's speed on 2 cores, so progress shows while the per-call cost stays negligible.
PARAM_STEPS_PER_CHUNK = 200_000_000
MIN_STEPS_PER_CHUNK = 100

KERAS_REFUSED = ("--arch=keras is expected only in single runs (xor_tf.train); the ensemble "
                 "stacks the hand-built networks, so use --arch=deep: the same 2-10-10-10-1 "
                 "shape and the same initial weights for each seed.")


def check(config):
  """Checks that the ensemble can train `config` (every hand-built arch; not keras).

  Raises:
    ValueError: with a one-line message.
  """
  config_lib.check(config)
  if config.arch == "keras":
    raise ValueError(KERAS_REFUSED)
  return config


@dataclasses.dataclass
class Results:
  """Per-seed outcomes of one ensemble, in the order of `seeds` (numpy arrays of length M)."""

  config: config_lib.Config  # the configuration; its `seed` field is not used
  seeds: np.ndarray  # int64 [M]
  loss: np.ndarray  # float32 [M] final loss (NaN where the model diverged)
  accuracy: np.ndarray  # float32 [M] final accuracy on the four points
  solved_step: np.ndarray  # int64 [M] first step with accuracy 1.0, or NEVER
  diverged_step: np.ndarray  # int64 [M] first step whose loss was not finite, or NEVER
  probabilities: np.ndarray  # float32 [M, 4] final output for each XOR input
  train_seconds: float  # in the compiled loop, after the first (compiling) chunk
  timed_steps: int  # steps timed in train_seconds
  compile_seconds: float  # the first chunk: tracing, XLA compilation and its steps (all of
  # them when one chunk holds the whole run: then train_seconds is 0)
  curve_steps: np.ndarray = None  # int64 [K] the steps of the curves, 0 and the last included
  curve_loss: np.ndarray = None  # float32 [M, K] loss at each curve step (NaN from the step the
  # model diverged at on, as `loss`)
  curve_accuracy: np.ndarray = None  # float32 [M, K] accuracy at each curve step (NaN likewise)
  params: dict = None  # {name: float32 [M, *shape]} the final weights, when asked for

  @property
  def diverged(self):
    return self.diverged_step != NEVER

  @property
  def solved(self):
    """Solved XOR at the end: all four points right and never diverged."""
    return (self.accuracy == 1.0) & ~self.diverged

  @property
  def network_steps_per_second(self):
    if not self.train_seconds:
      return math.nan
    return len(self.seeds) * self.timed_steps / self.train_seconds

  def __len__(self):
    return len(self.seeds)


def template(config):
  """The single network of `config` (seed 0): its units, parameter names, order and shapes."""
  return models.build(dataclasses.replace(check(config), seed=0))


def initial_params(net, init, seeds):
  """The stacked initial parameters {name: [len(seeds), *shape]} of `net`'s shape for `seeds`.

  Row m holds exactly `models.initial_value(shape, init, seeds[m], index, ...)`, the weights a
  single run with that seed starts from, drawn by that same function for all seeds in one
  graph call (one eager call per seed and parameter costs ~0.1 ms each, seconds for thousands).
  """
  specs = tuple((name, tuple(v.shape), name.endswith("/bias")) for name, v in net.params.items())
  if (init, specs) not in _INITIALISERS:
    _INITIALISERS[init, specs] = tf.function(
        lambda seeds: _initial_stack(seeds, init, specs), autograph=False)
  return _INITIALISERS[init, specs](tf.constant(seeds, tf.int64))


# One graph function per (init, parameter shapes), each traced once per number of seeds; one
# function for all would warn of retracing as the sweep moves from one shape to the next.
_INITIALISERS = {}


def _initial_stack(seeds, init, specs):
  return {name: tf.map_fn(
      lambda seed, shape=shape, index=index, is_bias=is_bias: models.initial_value(
          list(shape), init, seed, index, is_bias=is_bias),
      seeds, fn_output_signature=tf.float32)
          for index, (name, shape, is_bias) in enumerate(specs)}


def models_last(value):
  """[M, *shape] -> [*shape, M]: the loop's layout (see `Program`)."""
  return tf.transpose(value, [*range(1, value.shape.rank), 0])


def models_first(value):
  """[*shape, M] -> [M, *shape]: the layout of what comes out."""
  return tf.transpose(value, [value.shape.rank - 1, *range(value.shape.rank - 1)])


class Program(tf.Module):
  """The compiled ensemble loop of one network shape, activation, optimizer kind and loss.

  Inside the loop every parameter and optimizer slot carries the model axis last
  ([*shape, M], `models.Stack`); what goes in and comes out has it first. The optimizer's
  hyperparameters (learning rate, momentum) are arguments, so every value of a sweep reuses one
  compilation.
  """

  def __init__(self, net, optimizer, loss):
    super().__init__(name="ensemble_program")
    self.net = net
    self.stack = models.Stack(net)
    self.optimizer = optimizer
    self.loss = loss
    self.slot_names = optim.slot_names(optimizer, net.params)
    self.x = tf.constant(data.INPUTS)
    self.y = tf.constant(data.LABELS)
    # Made per instance, not as methods: TensorFlow counts a method's traces over all instances
    # and would warn of retracing when a sweep builds one program per shape.
    self.advance = tf.function(self._advance, jit_compile=True, autograph=False)
    self.finish = tf.function(self._finish, jit_compile=True, autograph=False)
    self.distributed = {}  # id(strategy) -> its replicated functions (`_replicated`)

  def initial_state(self, init, seeds, curve_steps=()):
    """The state of a stack of `seeds` at step 0 that records its curve at `curve_steps`."""
    params = {k: models_last(v) for k, v in initial_params(self.net, init, seeds).items()}
    # Slots are named '<param>/<slot>' (xor_tf.optim), zeros at the start.
    slots = {k: tf.zeros_like(params[tags.layer_of(k)]) for k in self.slot_names}
    never = tf.fill([len(seeds)], tf.constant(NEVER, tf.int64))
    if len(curve_steps) > CURVE_SLOTS:
      raise ValueError(f"curve_steps expects at most {CURVE_SLOTS} steps; received "
                       f"{len(curve_steps)}.")
    # A fixed number of slots, so that every number of steps shares one compilation.
    padded = list(curve_steps) + [NEVER] * (CURVE_SLOTS - len(curve_steps))
    return {"params": params, "slots": slots, "step": tf.constant(0, tf.int64),
            "solved_step": never, "diverged_step": never,
            "curve_steps": tf.constant(padded, tf.int64),
            "curve": tf.fill([CURVE_SLOTS + 1, 2, len(seeds)], math.nan)}  # + scratch

  def evaluate(self, params):
    """Per-model loss [M], accuracy [M] and probabilities [M, 4] of a stack of networks."""
    logits, activations = self.stack.apply(params, self.x)
    probabilities = activations[tags.OUTPUT]
    return (losses.compute_loss(logits, self.y, self.loss),
            summaries.accuracy(probabilities, self.y), tf.transpose(probabilities[:, 0, :]))

  def _step(self, state, hyper):
    """The single run's train step on the stack, and what it tells of each model."""
    update = optim.Update(self.optimizer, hyper)
    new_state, metrics = step_lib.train_step(self.stack, update, state, self.x, self.y,
                                             self.loss)
    loss, accuracy = metrics[tags.LOSS], metrics[tags.ACCURACY]
    return dict(new_state, **self._track(state, loss, accuracy), curve_steps=state["curve_steps"],
                curve=self._record(state, loss, accuracy))

  @staticmethod
  def _record(state, loss, accuracy):
    """The curve with the step's loss and accuracy [M] in its slot, if the step is a curve step.

    Every step writes one slot, the last (a scratch slot) unless the step is a curve step: an
    update in place, where a condition around the update copied the whole buffer each step.
    """
    hit = tf.equal(state["curve_steps"], state["step"])
    slot = tf.where(tf.reduce_any(hit), tf.argmax(tf.cast(hit, tf.int32), output_type=tf.int32),
                    CURVE_SLOTS)
    return tf.tensor_scatter_nd_update(state["curve"], [[slot]], tf.stack([loss, accuracy])[None])

  @staticmethod
  def _track(state, loss, accuracy):
    """Notes, per model, the first step with all four points right and with a non-finite loss."""
    step = state["step"]
    return {"solved_step": tf.where((state["solved_step"] == NEVER) & (accuracy == 1.0), step,
                                    state["solved_step"]),
            "diverged_step": tf.where((state["diverged_step"] == NEVER)
                                      & ~tf.math.is_finite(loss), step, state["diverged_step"])}

  def _advance(self, state, until, hyper):
    """Trains every model of `state` up to step `until` (int64); returns the new state."""
    return tf.while_loop(lambda s: s["step"] < until,
                         lambda s: [self._step(s, hyper)], [state])[0]

  def _finish(self, state):
    """Final per-model outcomes; the last step itself counts for solved and diverged."""
    loss, accuracy, probabilities = self.evaluate(state["params"])
    # The final weights flat, 'params/<name>': [M, *shape], so every value gathers alike.
    return dict(self._track(state, loss, accuracy), loss=loss, accuracy=accuracy,
                probabilities=probabilities, curve=models_first(state["curve"]),  # [M, slot, 2]
                **{f"params/{k}": models_first(v) for k, v in state["params"].items()})


# Curve steps a compiled loop can record: 5 a decade (`default_curve_steps`) up to 10**12 steps.
CURVE_SLOTS = 64
_PROGRAMS = {}


def program(config):
  """The (cached) compiled loop for config's shape, activation, optimizer and loss."""
  net = template(config)
  key = (repr(net), config.optimizer, config.loss)
  if key not in _PROGRAMS:
    _PROGRAMS[key] = Program(net, config.optimizer, config.loss)
  return _PROGRAMS[key]


def steps_per_chunk(net, models_per_replica, steps):
  """Steps per compiled call: about PARAM_STEPS_PER_CHUNK updates, in hundreds of steps."""
  size = sum(int(np.prod(v.shape)) for v in net.params.values())
  per_chunk = PARAM_STEPS_PER_CHUNK // max(1, size * models_per_replica)
  return min(steps, max(MIN_STEPS_PER_CHUNK, per_chunk // 100 * 100))


def default_curve_steps(config):
  """The steps of each model's curve: a single run's default picture steps for config.steps.

  0, 10, 20, 30, 50, 70, 100, 200, ... and the last (`training.is_picture_step` with
  --image_every unset, whatever config's own): dense while the nets learn, sparse after, so a
  curve of 10,000 steps has 17 points.
  """
  pictures = dataclasses.replace(config, image_every=None)
  steps = [0] if training.is_picture_step(0, pictures) else []
  while (step := training.next_picture_step(steps[-1] if steps else 0, pictures)) is not None:
    steps.append(step)
  return steps


def train(config, seeds, *, strategy=None, on_chunk=None, chunk_steps=None, curve_steps=None):
  """Trains one network per seed for config.steps steps, all at once.

  Args:
    config: a `xor_tf.config.Config` of a hand-built arch (not keras); its `seed` is ignored.
    seeds: the seeds, a non-empty sequence of ints >= 0; model m starts from exactly the
      weights of a single run (`training.train`) with seed seeds[m].
    strategy: a `tf.distribute` strategy whose replicas split the seeds, or None (the fast
      default) to train them all in one compiled loop on the default device.
    on_chunk: called as on_chunk(step, solved) after each compiled chunk, `solved` being how
      many models have had all four points right at some step so far; for progress display.
    chunk_steps: steps per compiled call; default: about one second of work.
    curve_steps: the steps at which each model's loss and accuracy are taken, from 0 to
      config.steps; default: `default_curve_steps(config)`; () for none.

  Returns:
    `Results`, per seed in the order given, with the final weights in `params` and the curves
    in `curve_loss` and `curve_accuracy`. Models whose loss became non-finite are marked
    (diverged_step), their numbers NaN from that step on, and do not disturb the others;
    nothing raises.

  Raises:
    ValueError: if config, seeds or curve_steps are not valid.
  """
  check(config)
  seeds = [int(s) for s in seeds]
  if not seeds or min(seeds) < 0:
    raise ValueError(f"seeds expects a non-empty list of integers >= 0; received {seeds!r}.")
  wanted = sorted({int(s) for s in (default_curve_steps(config) if curve_steps is None
                                    else curve_steps)})
  if wanted and (wanted[0] < 0 or wanted[-1] > config.steps):
    raise ValueError(f"curve_steps expects steps from 0 to {config.steps}; received "
                     f"{list(curve_steps)!r}.")
  prog = program(config)
  hyper = {k: tf.constant(v, tf.float32) for k, v in config.hyperparameters.items()}
  recorded = [s for s in wanted if s < config.steps]  # by the loop; the last one by `finish`
  if strategy is None:
    state, advance, finish, count_solved, per_replica = _blocked(prog, config, seeds, recorded)
  else:
    state, advance, finish, count_solved, per_replica = _distributed(prog, config, seeds,
                                                                     strategy, recorded)
  chunk = chunk_steps or steps_per_chunk(prog.net, per_replica, config.steps)
  bounds = list(range(chunk, config.steps, chunk)) + [config.steps]
  train_seconds, compile_seconds, timed = 0.0, 0.0, 0
  for i, until in enumerate(bounds):
    before = time.perf_counter()
    state = advance(state, tf.constant(until, tf.int64), hyper)
    solved = count_solved(state)  # also waits for the chunk to finish, for the timing
    elapsed = time.perf_counter() - before
    if i == 0:
      compile_seconds = elapsed
    else:
      train_seconds += elapsed
      timed += until - bounds[i - 1]
    if on_chunk:
      on_chunk(until, solved)
  out = {k: np.asarray(v)[:len(seeds)] for k, v in finish(state).items()}
  params = {k.split("/", 1)[1]: out.pop(k) for k in list(out) if k.startswith("params/")}
  # [M, curve steps, 2] loss and accuracy
  last = np.stack([out["loss"], out["accuracy"]], axis=1)[:, None]  # [M, 1, 2]
  curve = np.concatenate([out.pop("curve")[:, :len(recorded)],
                          last[:, :len(wanted) - len(recorded)]], axis=1)
  # A diverged model's numbers are NaN, whatever its NaN weights happen to compute.
  finite = out["diverged_step"] == NEVER
  loss = np.where(finite, out["loss"], np.nan).astype(np.float32)
  accuracy = np.where(finite, out["accuracy"], np.nan).astype(np.float32)
  curve_loss, curve_accuracy = _curves(curve, wanted, out["diverged_step"])
  return Results(config=config, seeds=np.array(seeds, np.int64), loss=loss, accuracy=accuracy,
                 solved_step=out["solved_step"], diverged_step=out["diverged_step"],
                 probabilities=out["probabilities"],
                 train_seconds=train_seconds, timed_steps=timed, compile_seconds=compile_seconds,
                 curve_steps=np.array(wanted, np.int64), curve_loss=curve_loss,
                 curve_accuracy=curve_accuracy, params=params)


def _curves(curve, steps, diverged_step):
  """[M, len(steps), 2] -> loss and accuracy [M, len(steps)], each NaN from the step its model
  diverged at on (or wherever its loss is not finite)."""
  loss, accuracy = curve[..., 0].astype(np.float32), curve[..., 1].astype(np.float32)
  diverged = diverged_step[:, None]
  gone = (diverged != NEVER) & (np.array(steps)[None] >= diverged) | ~np.isfinite(loss)
  return np.where(gone, np.float32(np.nan), loss), np.where(gone, np.float32(np.nan), accuracy)


# Models per block: the block's parameters take about this many floats, so that a block's
# whole working set (parameters, gradients, slots, activations) stays in a core's cache while it
# trains through a chunk's steps, instead of streaming 10,000 nets' arrays through memory at
# every step.
BLOCK_PARAM_FLOATS = int(os.environ.get("XOR_TF_BLOCK_FLOATS", 2**15))
MIN_BLOCK = 64


def block_size(net, models, workers=1):
  """Models per block for `net`'s shape: blocks about BLOCK_PARAM_FLOATS, as even as can be.

  The number of blocks is a multiple of `workers` (when there are more models than blocks of
  MIN_BLOCK), so that every worker has as many blocks as the others.
  """
  size = sum(int(np.prod(v.shape)) for v in net.params.values())
  ideal = max(MIN_BLOCK, BLOCK_PARAM_FLOATS // size)
  count = -(-models // ideal)
  if count > 1 or models >= workers * MIN_BLOCK:
    count = -(-count // workers) * workers
  return -(-models // max(1, count))


def _workers():
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:  # not on Linux
    return max(1, os.cpu_count() or 1)


def _blocked(prog, config, seeds, curve_steps):
  """`train`'s state, loop and final step on one device, the models in cache-sized blocks.

  Each block is a stack of its own, trained by its own call of the compiled loop; as many
  blocks run at once as there are cores, each call on one thread, so a core that another
  program keeps busy slows only its own blocks, not a barrier that every op of every block
  waits at. Equal blocks keep one trace: the last is padded with its last seed, dropped after.
  """
  workers = _workers()
  size = block_size(prog.net, len(seeds), workers)
  count = -(-len(seeds) // size)
  padded = seeds + [seeds[-1]] * (count * size - len(seeds))
  states = [prog.initial_state(config.init, padded[i * size:(i + 1) * size], curve_steps)
            for i in range(count)]
  pool = concurrent.futures.ThreadPoolExecutor(min(count, workers))

  def advance(states, until, hyper):
    return list(pool.map(lambda s: prog.advance(s, until, hyper), states))

  def count_solved(states):
    return sum(int(tf.math.count_nonzero(s["solved_step"] != NEVER)) for s in states)

  def finish(states):
    pool.shutdown()
    finals = [prog.finish(s) for s in states]
    return {k: np.concatenate([np.asarray(f[k]) for f in finals]) for k in finals[0]}

  return states, advance, finish, count_solved, size


def _distributed(prog, config, seeds, strategy, curve_steps):
  """The state, loop and final step of `train` with the seeds split over strategy's replicas."""
  replicas = strategy.num_replicas_in_sync
  # At least 2 a replica: XLA compiles a stack of one network differently (its last bits differ
  # from the same seed's in a stack of 2 or more, which all agree), and a seed's result should
  # not depend on how the seeds were split.
  per_replica = max(2, -(-len(seeds) // replicas))
  # Equal slices keep one trace for all replicas; the padding repeats the last seed and is
  # dropped after the gather.
  padded = seeds + [seeds[-1]] * (per_replica * replicas - len(seeds))

  def slice_state(context):
    i = context.replica_id_in_sync_group
    return prog.initial_state(config.init, padded[i * per_replica:(i + 1) * per_replica],
                              curve_steps)

  state = strategy.experimental_distribute_values_from_function(slice_state)
  key = id(strategy)
  if key not in prog.distributed:  # made once per program and strategy, so traced once
    prog.distributed[key] = _replicated(prog, strategy)
  advance, count_solved, finish = prog.distributed[key]
  return state, advance, finish, lambda s: int(count_solved(s)), per_replica


def _replicated(prog, strategy):
  """prog's loop, solved count and final step run by every replica on its slice."""

  @tf.function
  def advance(state, until, lr):
    return strategy.run(prog.advance, args=(state, until, lr))

  @tf.function
  def count_solved(state):
    counts = strategy.run(lambda s: tf.math.count_nonzero(s["solved_step"] != NEVER), (state,))
    return strategy.reduce(tf.distribute.ReduceOp.SUM, counts, axis=None)

  @tf.function
  def finish(state):
    final = strategy.run(prog.finish, args=(state,))
    return {k: strategy.gather(v, axis=0) for k, v in final.items()}

  return advance, count_solved, finish


def make_strategy(kind="auto", *, cluster_timeout=None):
  """The tf.distribute strategy that splits the seeds, or None for the single-device path.

  Args:
    kind: 'none'; 'mirrored': MirroredStrategy over this machine's GPUs, or its logical CPU
      devices if there is no GPU (see `split_cpu`); 'multi_worker': MultiWorkerMirroredStrategy
      over the cluster that TF_CONFIG describes; 'auto': multi_worker if TF_CONFIG is set, else
      mirrored if there are several GPUs or logical CPUs, else none.

    cluster_timeout: seconds that MultiWorkerMirroredStrategy waits for the cluster's tasks to
      register before it raises (TensorFlow's own default: no limit).

  Call it first thing after importing TensorFlow: MultiWorkerMirroredStrategy has to exist
  before TensorFlow initialises its devices.
  """
  if kind == "multi_worker" or (kind == "auto" and os.environ.get("TF_CONFIG")):
    # Before anything lists or uses a device: collective ops are configured at start-up.
    if cluster_timeout:
      _bound_cluster_wait(cluster_timeout)
    return tf.distribute.MultiWorkerMirroredStrategy()
  gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
  cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
  if kind == "auto":
    kind = "mirrored" if len(gpus) > 1 or len(cpus) > 1 else "none"
  if kind == "none":
    return None
  return tf.distribute.MirroredStrategy(gpus or cpus)


def _bound_cluster_wait(seconds):
  """Configures the coordination service as MultiWorkerMirroredStrategy would, with a deadline.

  The strategy configures it itself only when nothing has; this is its configuration plus
  cluster_register_timeout, so a task that never registers ends the wait with an error.
  """
  from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.python.distribute import multi_worker_util  # pylint: disable=g-import-not-at-top
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
  spec = multi_worker_util.normalize_cluster_spec(
      tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec())
  jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
          for job in ("chief", "worker") if job in spec.jobs]
  if jobs and context.context().coordination_service is None:
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs, cluster_register_timeout_in_ms=int(seconds * 1000))


def is_multi_worker(strategy):
  """Whether `strategy` spans several processes (a TF_CONFIG cluster)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  return bool(resolver is not None and resolver.cluster_spec().as_dict())


def agree(strategy, value):
  """The largest of every worker's integer `value`: a collective, so every worker calls it alike.

  How one worker's wish to stop (a signal it caught) reaches all the others at the same chunk.
  """
  key = ("agree", id(strategy))
  if key not in _AGREE:

    @tf.function
    def largest(v):
      per_replica = strategy.run(lambda: tf.reshape(v, [1]))
      return tf.reduce_max(strategy.gather(per_replica, axis=0))  # ReduceOp has no MAX

    _AGREE[key] = largest
  return int(_AGREE[key](tf.constant(value, tf.int64)))


_AGREE = {}


def split_cpu(count):
  """Splits the CPU into `count` logical devices; must run before TensorFlow uses a device."""
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def is_chief(strategy):
  """Whether this process writes results: always without a multi-worker cluster."""
  if not is_multi_worker(strategy):
    return True
  resolver = strategy.cluster_resolver
  task_type, task_id = resolver.task_type, resolver.task_id
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


# Where stuck sigmoid nets sit: some points learned, the others sharing one output that is the
# mean of their labels. (loss, what the net outputs there) for each loss kind.
PLATEAUS = {
    "bce": ((math.log(2), "ln 2: 0.5 on all four points"),
            (math.log(2) / 2, "ln 2 / 2: two points learned, two at 0.5"),
            ((3 * math.log(3) - 2 * math.log(2)) / 4, "one point learned, three at 2/3")),
    "mse": ((0.25, "0.5 on all four points"),
            (0.125, "two points learned, two at 0.5"),
            (1 / 6, "one point learned, three at 2/3"),
            (0.5, "two points saturated at the wrong label")),
}
PLATEAU_TOLERANCE = 0.003  # a net still creeping towards a plateau after config.steps


@dataclasses.dataclass
class Failure:
  """A group of unsolved (finite) seeds whose final losses lie together."""

  loss: float  # the group's median final loss
  count: int
  seeds: list
  plateau: str = ""  # what the nets output there, when it is a known plateau


@dataclasses.dataclass
class Census:
  """How often one configuration solves XOR over its seeds, and where the others end."""

  config: config_lib.Config
  seeds: int
  solved: int
  diverged: int
  median_steps: float  # median first step with accuracy 1.0 over the solved seeds; NaN if none
  failures: list  # [Failure], most common first

  @property
  def fraction_solved(self):
    return self.solved / self.seeds

  @property
  def fraction_diverged(self):
    return self.diverged / self.seeds


def census(results, *, gap=0.01):
  """Summarises `Results`: fraction solved, median steps to solve, and the failures' clusters.

  Final losses of the unsolved, finite seeds are sorted and split wherever two neighbours differ
  by more than `gap` (relative to the loss, for losses above 1); each group is named after the
  plateau it sits at, if any (PLATEAUS).

  Returns:
    A `Census`.
  """
  solved = results.solved
  steps = results.solved_step[solved]
  stuck = ~solved & ~results.diverged
  order = np.argsort(results.loss[stuck], kind="stable")
  losses, seeds = results.loss[stuck][order], results.seeds[stuck][order]
  breaks = np.nonzero(np.diff(losses) > gap * np.maximum(1, losses[1:]))[0] + 1
  groups = np.split(np.arange(len(losses)), breaks)
  failures = []
  for g in groups:
    if len(g):
      loss = float(np.median(losses[g]))
      names = [name for value, name in PLATEAUS.get(results.config.loss, ())
               if abs(loss - value) <= PLATEAU_TOLERANCE]
      failures.append(Failure(loss, len(g), [int(s) for s in seeds[g]], names[0] if names else ""))
  failures.sort(key=lambda f: (-f.count, f.loss))
  return Census(config=results.config, seeds=len(results), solved=int(solved.sum()),
                diverged=int(results.diverged.sum()),
                median_steps=float(np.median(steps)) if len(steps) else math.nan,
                failures=failures)


def describe(config):
  """E.g. 'nn-2-2-1 sigmoid sgd lr5 bce uniform': what tells one configuration of a sweep."""
  return config_lib.describe(config)


def failures_text(c, limit=4):
  """E.g. '15 at 0.3468 (ln 2 / 2: two points learned, two at 0.5); 1 at 0.4776 (...)'."""
  parts = [f"{f.count} at {f.loss:.4g}" + (f" ({f.plateau})" if f.plateau else "")
           for f in c.failures[:limit]]
  rest = sum(f.count for f in c.failures[limit:])
  return "; ".join(parts + ([f"{rest} elsewhere"] if rest else [])) or "none"


def census_table(censuses):
  """A Markdown table of censuses, one row per configuration (printed and sent to TensorBoard)."""
  rows = ["| configuration | steps | solved | median steps to solve | diverged | "
          "unsolved end at (seeds at final loss) |",
          "|---|---|---|---|---|---|"]
  for c in censuses:
    median = "—" if math.isnan(c.median_steps) else f"{c.median_steps:g}"
    rows.append(f"| {describe(c.config)} | {c.config.steps} | {c.solved}/{c.seeds} "
                f"({c.fraction_solved:.0%}) | {median} | {c.diverged} | {failures_text(c)} |")
  return "\n".join(rows)
