"""Which variables a checkpoint holds, under which keys: the Scaffold's saver.

2.15 saved and restored through `EstimatorSpec.scaffold.saver`, by default a
sharded `Saver` of all global variables under their names. Legacy model_fns
pass their own: a `tf.compat.v1.train.Saver` that renames variables
(`var_list={'name': v}`), saves a subset, or keeps its own number of
checkpoints (`max_to_keep`, `keep_checkpoint_every_n_hours`); or a TF2
`tf.train.Checkpoint` (the checkpoint migration guide's), which
`Scaffold.finalize` turned into a `Saver` of the object graph's saveables:
object-based keys (`var_list/var/.ATTRIBUTES/VARIABLE_VALUE`) and the
`_CHECKPOINTABLE_OBJECT_GRAPH` entry that `tf.train.Checkpoint.restore`
reads. The Estimator writes its checkpoints itself (atomically, see
`checkpoints.CheckpointStore`), so from a saver it takes only those
decisions: a `Layout`. Any other object (a wrapper around a Saver, say) is
asked to restore as 2.15 asked it, `saver.restore(session, path)`, while
checkpoints are written under the variables' names.
"""

import collections
from typing import NamedTuple, Optional

from absl import logging
import tensorflow as tf

from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.platform import tf_internals


class Layout(NamedTuple):
  """What checkpoints hold.

  Attributes:
    variables: checkpoint key -> variable, in save order; what is restored.
    constants: checkpoint key -> tensor saved as is and never restored (a
      `tf.train.Checkpoint`'s object graph).
    retention: the saver's `(max_to_keep, keep_checkpoint_every_n_hours)`,
      or None for RunConfig's.
    restorer: an object whose `restore(session, path)` restores instead, or
      None.
    saveables: the graph's other saveables (its tables), saved beside the
      variables and restored after them as 2.15's default Saver did: an
      object with `tensors()` (key -> current tensor) and `restore(path)`
      (`engine.graph_saveables.GraphSaveables`), or None.
  """
  variables: collections.OrderedDict
  constants: dict
  retention: Optional[tuple] = None
  restorer: object = None
  saveables: object = None

  def tensors_to_save(self):
    """Key -> tensor a checkpoint holds besides `variables`, as of now."""
    if self.saveables is None:
      return self.constants
    return {**self.constants, **self.saveables.tensors()}


def layout(saver, global_variables, saveables=None):
  """The `Layout` that `saver` (a Scaffold's; None for the default) gives.

  Args:
    saver: None, a `tf.compat.v1.train.Saver` or a `tf.train.Checkpoint`.
    global_variables: the model's checkpoint key -> variable (by name).
    saveables: the graph's other saveables (see `Layout`) or None; a Saver of
      everything (the default, or one given no var_list) holds them.

  Returns:
    A `Layout`.

  Raises:
    ValueError: the saver saves something other than the model's variables.
  """
  if saver is None:
    return Layout(global_variables, {}, saveables=saveables)
  if isinstance(saver, tf.train.Checkpoint):
    return _checkpoint_layout(saver, global_variables)
  if isinstance(saver, tf.compat.v1.train.Saver):
    if is_object_keyed(saver):
      return _saveables_layout(tf_internals.saver_var_list(saver),
                               global_variables)._replace(
                                   retention=tf_internals.saver_retention(saver))
    variables = _saver_variables(saver, global_variables)
    return Layout(variables, {}, tf_internals.saver_retention(saver),
                  saveables=saveables if variables is global_variables else None)
  logging.warning(
      'Scaffold saver %r is neither a tf.compat.v1.train.Saver nor a '
      'tf.train.Checkpoint: it restores, but checkpoints are written under '
      'the variables\' names.', saver)
  return Layout(global_variables, {}, restorer=saver)


def is_object_keyed(saver):
  """Whether v1 `saver` saves an object graph (2.15's Keras estimators')."""
  if not isinstance(saver, tf.compat.v1.train.Saver):
    return False
  var_list = tf_internals.saver_var_list(saver)
  return (isinstance(var_list, (list, tuple)) and bool(var_list) and
          tf_internals.is_saveable_object(var_list[0]))


def _keys_by_variable(global_variables):
  return {id(v): k for k, v in global_variables.items()}


def _unknown(what, name):
  return ValueError(
      f'The Scaffold saver saves {what} {name!r}, which is not one of the '
      'model_fn\'s global variables; only variables can be checkpointed here.')


def v1_saver(saver):
  """The v1 `Saver` a Scaffold's saver stands for in a TF1 graph.

  A `tf.train.Checkpoint` becomes a sharded Saver of its object graph's
  saveables, as `Scaffold.finalize` made it; any other saver is itself.
  """
  if isinstance(saver, tf.train.Checkpoint):
    return tf.compat.v1.train.Saver(
        var_list=tf_internals.frozen_saveable_objects(saver),
        sharded=True)
  return saver


def _saver_variables(saver, global_variables):
  """Key -> variable of a v1 Saver: its var_list's keys, else the names."""
  var_list = tf_internals.saver_var_list(saver)
  if var_list is None:  # the Saver of every global variable
    return global_variables
  known = _keys_by_variable(global_variables)
  items = (var_list.items() if isinstance(var_list, dict) else
           [(known.get(id(v), getattr(v, 'name', v)), v) for v in var_list])
  chosen = collections.OrderedDict()
  for key, variable in items:
    if id(variable) not in known:
      raise _unknown('under key', key)
    chosen[key] = variable
  return chosen


def _checkpoint_layout(checkpoint, global_variables):
  """The object-based keys of a `tf.train.Checkpoint`, as Scaffold made them."""
  with tf.init_scope():
    saveables = tf_internals.frozen_saveable_objects(checkpoint)
  return _saveables_layout(saveables, global_variables)


def _saveables_layout(saveables, global_variables):
  """The keys of an object graph's saveables, its serialized graph included."""
  known = _keys_by_variable(global_variables)
  variables, constants = collections.OrderedDict(), {}
  for saveable in saveables:
    spec = saveable.specs[0]
    variable = tf_internals.saveable_variable(saveable)
    if spec.name == checkpoints.OBJECT_GRAPH_KEY:
      # A constant; one made in the model graph (by a Saver there) is
      # written from outside it.
      with tf.init_scope():
        constants[spec.name] = tf.constant(tf.get_static_value(spec.tensor))
    elif id(variable) in known and len(saveable.specs) == 1:
      variables[spec.name] = variable
    else:
      raise _unknown('the object under key', spec.name)
  return Layout(variables, constants)
