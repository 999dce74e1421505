"""The machines of a TF_CONFIG cluster: joining them within a deadline, naming one that is missing.

MultiWorkerMirroredStrategy waits for every task of TF_CONFIG inside one native call that holds
the interpreter: no timeout by default, and neither Ctrl-C nor SIGTERM reaches Python while it
waits. So the sweep first meets the other tasks here, in Python: each task listens on its own
address from TF_CONFIG (the port TensorFlow's server takes over right after) and polls the others
until all accept a connection, a deadline passes, or a signal asks it to stop. No TensorFlow.
"""

import dataclasses
import json
import os
import socket
import time

COLLECTIVE_JOBS = ("chief", "worker")  # the tasks that train; evaluators and ps do not


class ClusterError(Exception):
  """A cluster that cannot form or lost a task; str() is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Task:
  job: str
  index: int
  address: str

  def __str__(self):
    return f"{self.job} {self.index} ({self.address})"


def from_tf_config(text=None):
  """(this task, every training task) from TF_CONFIG's JSON.

  Raises:
    ValueError: with a one-line message if TF_CONFIG is not a cluster with this task in it.
  """
  text = os.environ.get("TF_CONFIG", "") if text is None else text
  expected = ('expected JSON like {"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
              '"task": {"type": "worker", "index": 0}}')
  try:
    spec = json.loads(text)
    cluster, task = spec["cluster"], spec["task"]
    tasks = [Task(job, i, str(address)) for job in COLLECTIVE_JOBS
             for i, address in enumerate(cluster.get(job, []))]
    me = next(t for t in tasks if t.job == task["type"] and t.index == int(task["index"]))
    for t in tasks:
      _host_port(t.address)
  except (ValueError, KeyError, TypeError, AttributeError, StopIteration):
    raise ValueError(f"TF_CONFIG: {expected}, with this task among the chief or workers; "
                     f"received {text!r}.") from None
  return me, tasks


def _host_port(address):
  host, sep, port = address.rpartition(":")
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise ValueError(address)
  return host.strip("[]"), int(port)


def answers(task, timeout=0.5):
  """Whether something accepts TCP connections at the task's address."""
  try:
    with socket.create_connection(_host_port(task.address), timeout=timeout):
      return True
  except OSError:
    return False


def join(me, tasks, timeout, *, should_stop=lambda: False, on_wait=None, poll=0.2):
  """Waits until every other task accepts connections; this one listens on its address meanwhile.

  on_wait(tasks) is called once, with the tasks still missing, if the first look finds any.

  Returns:
    True when all are there; False if should_stop() turned true first.

  Raises:
    ClusterError: if this task cannot listen on its address, or when `timeout` seconds pass
      with a task missing (the message names it and its address).
  """
  host, port = _host_port(me.address)
  listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
  listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  try:
    try:
      listener.bind((host, port))
    except OSError:
      listener.bind(("", port))  # a name of this machine that is not one of its interfaces
    listener.listen(64)  # connections are never accepted: the kernel's handshake is the answer
  except OSError as e:
    listener.close()
    raise ClusterError(f"{me} cannot listen on its TF_CONFIG address: {e.strerror or e}; "
                       f"expected a free port on this machine.") from None
  deadline = time.monotonic() + timeout
  waiting = [t for t in tasks if t != me]
  try:
    while True:
      waiting = [t for t in waiting if not answers(t)]
      if not waiting:
        return True
      if on_wait is not None:
        on_wait(waiting)
        on_wait = None
      if should_stop():
        return False
      if time.monotonic() > deadline:
        raise ClusterError(missing_message(waiting, timeout))
      time.sleep(poll)
  finally:
    listener.close()


def missing_message(waiting, timeout):
  names = ", ".join(map(str, waiting))
  verb = "has" if len(waiting) == 1 else "have"
  return (f"{names} {verb} not joined the cluster within --cluster_timeout={timeout:g} s; "
          "expected every task of TF_CONFIG to run the same sweep.")


def named_in(text, tasks, me):
  """The first task other than `me` that a TensorFlow error names as /job:J/replica:0/task:I."""
  import re  # pylint: disable=g-import-not-at-top
  for job, index in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text):
    for t in tasks:
      if t != me and (t.job, t.index) == (job, int(index)):
        return t
  return None


def lost(tasks, me, error_text=""):
  """The task(s) a failed collective lost: the ones TensorFlow names, else those not answering."""
  named = named_in(error_text, tasks, me)
  if named is not None:
    return [named]
  return [t for t in tasks if t != me and not answers(t)]
