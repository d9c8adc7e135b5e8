"""`platform/tf_internals.py`, the package's one seam into TensorFlow internals.

Every entry is called on a small real object and must behave as its call
sites rely on, so a TensorFlow release that moves or changes one fails here
first. Strategies fix the devices and the cluster of their process, so the
`tf.distribute` entries run in child processes (this file run as a script:
`python test_tf_internals.py mirrored|ps`), as the engine's own tests do.

The source scans keep the seam the only place: no module of the engine
layers imports `tensorflow.python` or reads a protected member of a
TensorFlow object, and the seam imports no other module of the package.
"""

import ast
import contextlib
import inspect
import json
import logging
import os
import re
import subprocess
import sys

from google.protobuf import text_format
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.distribute import cross_device_utils
from tensorflow.python.eager import context

from tfcompat_estimator.engine import distribution
from tfcompat_estimator import estimator
from tfcompat_estimator import gc as gc_lib
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.runs import training

_PACKAGE = os.path.dirname(os.path.dirname(tf_internals.__file__))
# The engine layers, below the public API modules: none may reach into
# TensorFlow but through the seam.
_ENGINE_LAYERS = ('engine', 'runs', 'session_emulation', 'io')
# The top-level modules that reach TensorFlow internals through the seam
# only. The other ones (canned/, tpu/, export/, keras_lib.py, ...) re-export
# 2.15's TensorFlow objects from where TensorFlow keeps them, deliberately.
_THROUGH_THE_SEAM = ('estimator.py', 'model_fn.py', 'hooks.py',
                     'evaluation_hooks.py', 'early_stopping.py', 'gc.py',
                     'util.py', 'warm_starting.py', 'run_config.py',
                     'train_eval')
# Underscore names that are public protocols (namedtuple's), not private.
_PUBLIC_UNDERSCORE_NAMES = frozenset(
    ('_fields', '_replace', '_asdict', '_make'))
_v1 = tf.compat.v1


def _sources(*relative_paths):
  """(path relative to the package, source) of each .py file under the paths."""
  for relative in relative_paths:
    path = os.path.join(_PACKAGE, relative)
    files = [path] if path.endswith('.py') else [
        os.path.join(root, name) for root, _, names in os.walk(path)
        for name in names if name.endswith('.py')]
    for file in sorted(files):
      with open(file, encoding='utf-8') as f:
        yield os.path.relpath(file, _PACKAGE), f.read()


def _imported_modules(source):
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      yield node.module or ''


def _tf_private_imports(source, packages=('tensorflow.python',
                                            'tensorflow.core')):
  return [m for m in _imported_modules(source)
          if m in packages or m.startswith(tuple(p + '.' for p in packages))]


def _private_attribute_lookups(source):
  """Calls like `getattr(x, '_name')`, which a protected-access check misses."""
  found = []
  for node in ast.walk(ast.parse(source)):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and
        node.func.id in ('getattr', 'hasattr', 'setattr', 'delattr') and
        len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and
        isinstance(node.args[1].value, str) and
        re.match(r'_[^_]', node.args[1].value) and
        node.args[1].value not in _PUBLIC_UNDERSCORE_NAMES):
      found.append(ast.unparse(node))
  return found


def test_engine_layers_reach_tensorflow_internals_only_through_the_seam():
  offenders = {}
  for path, source in _sources(*_ENGINE_LAYERS):
    found = (_tf_private_imports(source) +
             _private_attribute_lookups(source) +
             [line.strip() for line in source.splitlines()
              if 'protected-access' in line])
    if found:
      offenders[path] = found
  assert not offenders, (
      'Reach TensorFlow internals through platform/tf_internals.py (an '
      f'entry saying why and where); found: {offenders}')


def test_top_level_modules_reach_tensorflow_internals_only_through_the_seam():
  # Not tensorflow.core: run_config.py builds a `RewriterConfig`, a proto
  # TensorFlow exports only as a field of `ConfigProto`.
  offenders = {}
  for path, source in _sources(*_THROUGH_THE_SEAM):
    found = (_tf_private_imports(source, ('tensorflow.python',)) +
             _private_attribute_lookups(source))
    if found:
      offenders[path] = found
  assert not offenders


def test_the_seam_is_the_lowest_layer():
  """It imports TensorFlow, its NumPy and the standard library only."""
  path = os.path.join(_PACKAGE, 'platform', 'tf_internals.py')
  with open(path, encoding='utf-8') as f:
    modules = set(_imported_modules(f.read()))
  assert {m for m in modules if not m.startswith('tensorflow.')} == {
      'collections', 'contextlib', 'importlib', 'numpy', 'sys', 'weakref'}


# --- Logging and files ------------------------------------------------------


def test_tf_logging_is_tensorflows_logging_module_where_callers_patch_it():
  logging = tf_internals.tf_logging
  assert logging.__name__ == 'tensorflow.python.platform.tf_logging'
  # The same functions as the public wrapper's, but not the same module: a
  # patch of one does not reach the other.
  assert _v1.logging is not logging
  for name in ('info', 'warning', 'error', 'log_first_n', 'log_every_n',
               'INFO', 'WARN'):
    assert getattr(_v1.logging, name) is getattr(logging, name)
  assert estimator.logging is distribution.logging is training.logging is (
      logging)


def test_gfile_lists_directories_with_2_15s_call(tmp_path):
  (tmp_path / '123').mkdir()
  (tmp_path / 'file').write_text('x')
  assert sorted(tf_internals.gfile.ListDirectory(str(tmp_path))) == [
      '123', 'file']
  # TensorFlow's module, where 2.15's tests mock it, as 2.15's gc.py had it.
  assert gc_lib.gfile is tf_internals.gfile is not _v1.gfile


# --- Ops and graph building -------------------------------------------------


def test_executing_eagerly_outside_functions_is_tfs_own_answer():
  assert tf_internals.executing_eagerly_outside_functions()
  with tf.Graph().as_default():
    assert not tf_internals.executing_eagerly_outside_functions()
  # The engine replaced the public one (engine/tf1_graph_semantics.py).
  assert (_v1.executing_eagerly_outside_functions is not
          tf_internals.executing_eagerly_outside_functions)


def test_replace_public_function_reaches_every_api_module_but_tfs_own():
  original = tf_internals.executing_eagerly_outside_functions
  replaced = _v1.executing_eagerly_outside_functions
  holders = lambda function: {
      name for name, module in list(sys.modules.items())
      if name.startswith('tensorflow') and
      getattr(module, 'executing_eagerly_outside_functions', None) is function}
  before = holders(replaced)
  assert {'tensorflow.compat.v1',
          'tensorflow._api.v2.compat.v2.compat.v1'} <= before
  def executing_eagerly_outside_functions():
    return 'replaced'

  marker = executing_eagerly_outside_functions
  tf_internals.replace_public_function(replaced, marker)
  try:
    assert holders(marker) == before
    assert _v1.executing_eagerly_outside_functions() == 'replaced'
    assert holders(original) == {'tensorflow.python.framework.ops'}
  finally:
    tf_internals.replace_public_function(marker, replaced)
  assert holders(replaced) == before


def test_symbolic_tensor_is_the_class_of_graph_tensors_only():
  with tf.Graph().as_default():
    graph_tensor = tf.constant(1.)
  assert isinstance(graph_tensor, tf_internals.SymbolicTensor)
  assert not isinstance(tf.constant(1.), tf_internals.SymbolicTensor)
  assert issubclass(tf_internals.SymbolicTensor, tf.Tensor)


def test_unliftable_error_is_what_wrapped_function_prune_raises():

  def add_one_to_a_placeholder():
    return _v1.placeholder(tf.float32, []) + 1

  wrapped = _v1.wrap_function(add_one_to_a_placeholder, [])
  with pytest.raises(tf_internals.UnliftableError):
    wrapped.prune([], wrapped.outputs)


def test_add_control_inputs_gates_an_existing_op():
  with tf.Graph().as_default():
    first, second = tf.constant(1.), tf.constant(2.)
    tf_internals.add_control_inputs(second.op, [first.op])
  assert second.op.control_inputs == [first.op]


def test_set_control_inputs_takes_gates_back():
  with tf.Graph().as_default():
    first, second, third = tf.constant(1.), tf.constant(2.), tf.constant(3.)
    tf_internals.add_control_inputs(third.op, [first.op, second.op])
    tf_internals.set_control_inputs(third.op, [second.op])
  assert third.op.control_inputs == [second.op]


def test_map_gradient_sources_sees_the_public_and_the_optimizers_calls():
  swapped, stops = [], []
  tf_internals.map_gradient_sources(
      lambda xs: [swapped[0]] if swapped else xs,
      lambda given: stops or given)
  with tf.Graph().as_default():
    a, b = tf.constant(3.), tf.constant(5.)
    product = a * b
    doubled = 2. * product
    unswapped = _v1.gradients(product, [a])[0]
    unstopped = tf.gradients(doubled, [a], stop_gradients=[b])[0]
    stops.append(product)
    assert tf.gradients(doubled, [a], stop_gradients=[b]) == [None]
    assert _v1.gradients(doubled, [a], stop_gradients=b) == [None]
    stops.clear()
    swapped.append(b)
    public = _v1.gradients(product, [a])[0]
    (optimizers, _), = _v1.train.GradientDescentOptimizer(1.).compute_gradients(
        product, [_v1.get_variable('v', [])])
    swapped.clear()
    with _v1.Session() as session:
      assert session.run([unswapped, unstopped, public, optimizers]) == [
          5., 10., 3., 3.]


def test_set_op_attr_changes_an_existing_ops_node_def():
  with tf.Graph().as_default() as graph:
    table = tf.raw_ops.MutableHashTableV2(
        key_dtype=tf.int64, value_dtype=tf.float32, use_node_name_sharing=True)
    tf_internals.set_op_attr(table.op, 'shared_name', _v1.AttrValue(s=b'mine'))
  assert table.op.get_attr('shared_name') == b'mine'
  (node,) = [n for n in graph.as_graph_def().node if n.name == table.op.name]
  assert node.attr['shared_name'].s == b'mine'


def test_op_def_looks_up_registered_op_types():
  op_def = tf_internals.op_def('VarHandleOp')
  assert op_def.is_stateful
  assert 'shared_name' in [attr.name for attr in op_def.attr]
  assert tf_internals.op_def('NoSuchOpType') is None


def test_no_default_graph_leaves_a_callers_graphs_for_the_block():
  global_graph = _v1.get_default_graph()
  assert tf_internals.default_graph_stack_is_empty()
  with tf.Graph().as_default() as callers:
    assert not tf_internals.default_graph_stack_is_empty()
    assert not tf.executing_eagerly()
    with tf_internals.no_default_graph(), tf_internals.eager_mode():
      assert tf_internals.default_graph_stack_is_empty()
      assert tf.executing_eagerly()
      assert _v1.get_default_graph() not in (callers, global_graph)
    assert _v1.get_default_graph() is callers
    assert not tf.executing_eagerly()
  assert _v1.get_default_graph() is global_graph
  with pytest.raises(ValueError), tf_internals.no_default_graph():
    raise ValueError('restored on errors too')
  assert _v1.get_default_graph() is global_graph


def test_current_device_name_reads_the_eager_device_scope():
  assert tf_internals.current_device_name() == ''
  with tf.device('/job:ps/task:1'):
    device = tf.DeviceSpec.from_string(tf_internals.current_device_name())
  assert (device.job, device.task) == ('ps', 1)


def test_functions_registered_in_the_eager_context_are_found_and_removed():
  function_def = tf.function(lambda x: x + 1).get_concrete_function(
      tf.TensorSpec([], tf.float32)).function_def
  # As importing a GraphDef registers its library's functions.
  function_def.signature.name = 'tfcompat_seam_test_function'
  context.context().add_function_def(function_def)
  assert tf_internals.has_function('tfcompat_seam_test_function')
  tf_internals.remove_function('tfcompat_seam_test_function')
  assert not tf_internals.has_function('tfcompat_seam_test_function')


# --- Functions and tracing --------------------------------------------------


def test_function_of_operations_runs_some_ops_of_a_graph_where_they_are():
  handles = {}

  def build(x):
    v = tf.Variable(3., name='v')
    read = tf.raw_ops.ReadVariableOp(resource=v.handle, dtype=tf.float32)
    product = x * read
    handles.update(x=x, v=v, read=read, product=product, unused=tf.sqrt(x),
                   add=tf.raw_ops.AssignAddVariableOp(resource=v.handle,
                                                      value=product))

  wrapped = _v1.wrap_function(build, [tf.TensorSpec([], tf.float32)])
  graph, h = wrapped.graph, handles
  (handle,) = [i for e, i in graph.captures if e is h['v'].handle]
  count = len(graph.get_operations())
  function = tf_internals.function_of_operations(
      graph, [h['read'].op, h['product'].op], [h['x'], handle],
      [h['product']], [])
  assert len(graph.get_operations()) == count  # nothing copied
  assert float(function.call_flat(tf.constant(2.), h['v'].handle)[0]) == 6.
  step = tf_internals.function_of_operations(
      graph, [h['add'], h['read'].op, h['product'].op], [h['x'], handle],
      [h['product']], [h['add']])
  traced = tf.function(lambda x: step.call_flat(x, h['v'].handle)[0])
  assert float(traced(tf.constant(2.))) == 6.
  assert float(h['v']) == 9.


def test_function_of_zeros_ignores_its_arguments():
  variable = tf.Variable(5.)
  zeros = tf_internals.function_of_zeros(
      [tf.resource, tf.float32],
      [tf.TensorSpec([2, 0], tf.int64), tf.TensorSpec([], tf.string),
       tf.TensorSpec([3], tf.bool)])
  ints, text, flags = zeros.call_flat(variable.handle, tf.constant(1.))
  assert ints.dtype == tf.int64 and ints.shape == [2, 0]
  assert text.numpy() == b''
  assert flags.numpy().tolist() == [False] * 3


def test_function_on_optional_calls_a_function_on_its_value():
  variable = tf.Variable(1.)
  add = tf.function(lambda x, y: variable.assign_add(x * y)).get_concrete_function(
      tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32))
  input_dtypes = [tf.float32, tf.float32] + [
      t.dtype for t in add.captured_inputs]
  on_optional = tf_internals.function_on_optional(
      add._inference_function, input_dtypes,  # pylint: disable=protected-access
      [tf.TensorSpec([], tf.float32)], [tf.TensorSpec([], tf.float32)])
  optional = tf.experimental.Optional.from_value(tf.constant(3.))
  (total,) = on_optional.call_flat(
      *tf.nest.flatten(optional, expand_composites=True), tf.constant(2.),
      *add.captured_inputs)
  assert float(total) == 7. and float(variable) == 7.


def test_call_if_calls_one_of_two_functions():
  variable = tf.Variable(1.)
  add = tf.function(lambda x: variable.assign_add(x)).get_concrete_function(
      tf.TensorSpec([], tf.float32))
  then_function = add._inference_function  # pylint: disable=protected-access
  else_function = tf_internals.function_of_zeros(
      [tf.float32, tf.resource], [tf.TensorSpec([], tf.float32)])
  made = []

  @tf.function
  def step(predicate, x):
    operation, outputs = tf_internals.call_if(
        predicate, [x] + list(add.captured_inputs), then_function,
        else_function, [tf.TensorSpec([], tf.float32)])
    made.append(operation)
    return outputs[0]

  assert float(step(tf.constant(True), tf.constant(2.))) == 3.
  assert float(step(tf.constant(False), tf.constant(2.))) == 0.
  assert float(variable) == 3.
  (operation,) = made
  assert operation.type == 'If'
  assert operation.get_attr('_lower_using_switch_merge')  # as tf.cond's


def test_rewire_input_changes_an_operations_input_in_place():
  graph = tf.Graph()
  with graph.as_default():
    a, b = tf.constant(1.), tf.constant(2.)
    total = a + 10.
  tf_internals.rewire_input(total.op, 0, b)
  assert total.op.inputs[0] is b
  with tf.compat.v1.Session(graph=graph) as session:
    assert session.run(total) == 12.


def test_graph_function_def_is_the_librarys_definition():
  inner = tf.function(lambda x: x * 2.)
  outer = tf.function(lambda x: inner(x) + 1.).get_concrete_function(
      tf.TensorSpec([], tf.float32))
  library = {f.signature.name: f
             for f in outer.graph.as_graph_def().library.function}
  assert library
  for name, expected in library.items():
    assert tf_internals.graph_function_def(outer.graph, name) == expected
  assert tf_internals.graph_function_def(outer.graph, 'no_such_fn') is None


def test_keras_name_counts_are_tf_keras_names_of_the_graph():
  graph = tf.Graph()
  counts = tf_internals.keras_name_counts(graph)
  assert counts is not None and not counts
  with graph.as_default():
    names = [tf.keras.layers.Dense(1).name for _ in range(2)]
    counts[('', 'dense')] += 3
    names.append(tf.keras.layers.Dense(1).name)
  assert names == ['dense', 'dense_1', 'dense_5']
  assert tf_internals.keras_name_counts(graph) is counts


def test_leave_unconverted_keeps_the_function_and_its_signature():
  """Autograph runs it as written; Keras still sees its `training` argument."""

  def call(inputs, training=None):
    return inputs if training else -inputs

  marked = tf_internals.leave_unconverted(call)
  assert marked is call
  assert inspect.getfullargspec(marked).args == ['inputs', 'training']
  autograph = tf.__internal__.autograph
  assert autograph.tf_convert(
      marked, autograph.control_status_ctx()) is call
  unmarked = lambda x: x
  assert autograph.tf_convert(
      unmarked, autograph.control_status_ctx()) is not unmarked


# --- Variables --------------------------------------------------------------


def test_base_resource_variable_is_the_class_of_resource_variables():
  assert isinstance(tf.Variable(1.), tf_internals.BaseResourceVariable)
  assert issubclass(tf_internals.BaseResourceVariable, tf.Variable)


def test_uninitialized_variable_is_what_the_saved_model_loader_restores(
    tmp_path):
  module = tf.Module()
  module.w = tf.Variable(1.)
  tf.saved_model.save(module, str(tmp_path))
  restored = tf.saved_model.load(str(tmp_path)).w
  assert isinstance(restored, tf_internals.UninitializedVariable)
  assert not isinstance(tf.Variable(1.), tf_internals.UninitializedVariable)


def test_initializer_op_is_the_op_a_graph_variable_came_with():
  with tf.Graph().as_default():
    variable = _v1.Variable(1., use_resource=True)
  assert tf_internals.initializer_op(variable) is variable.initializer
  assert tf_internals.initializer_op(tf.Variable(1.)) is None
  assert tf_internals.initializer_op(object()) is None


def test_save_slice_info_of_partitions():
  with tf.Graph().as_default():
    partitioned = _v1.get_variable(
        'w', [4, 1], partitioner=_v1.fixed_size_partitioner(2))
    info = tf_internals.save_slice_info(list(partitioned)[1])
    whole = _v1.Variable(tf.zeros([2, 1]), use_resource=True)
    assert tf_internals.save_slice_info(whole) is None
    tf_internals.set_save_slice_info(whole, info)
    assert tf_internals.save_slice_info(whole) is info
  assert isinstance(info, tf.Variable.SaveSliceInfo)
  assert (info.full_name, info.full_shape, info.var_offset, info.var_shape,
          info.spec) == ('w', [4, 1], [2, 0], [2, 1], '4 1 2,2:0,1')


def test_regularize_new_legacy_layer_weights_skips_reused_weights():
  class Layer(_v1.layers.Layer):
    pass

  calls = []
  tf_internals.regularize_new_legacy_layer_weights(Layer, lambda: True)
  with tf.Graph().as_default():
    layer = Layer(name='layer')
    regularizer = lambda w: calls.append(w) or tf.reduce_sum(w)
    first = layer.add_weight('w', [2], regularizer=regularizer)
    with _v1.variable_scope('', reuse=True):
      again = Layer(name='layer', _reuse=True)
      second = again.add_weight('w', [2], regularizer=regularizer)
    assert second is first
    assert len(layer.losses) == 1 and not again.losses


# --- Checkpoints and saveables ----------------------------------------------


def test_update_checkpoint_state_writes_the_state_file_quietly(tmp_path,
                                                                monkeypatch):
  warned = []
  monkeypatch.setattr(tf_internals.tf_logging, 'warning',
                      lambda *args, **kwargs: warned.append(args))
  tf_internals.update_checkpoint_state(
      str(tmp_path), str(tmp_path / 'model.ckpt-2'),
      [str(tmp_path / 'model.ckpt-1'), str(tmp_path / 'model.ckpt-2')],
      all_model_checkpoint_timestamps=[1., 2.], last_preserved_timestamp=.5)
  assert not warned  # the public, deprecated function's warning
  state = tf_internals.CheckpointState()
  text_format.Merge((tmp_path / 'checkpoint').read_text(), state)
  assert state.model_checkpoint_path == str(tmp_path / 'model.ckpt-2')
  assert list(state.all_model_checkpoint_timestamps) == [1., 2.]
  assert state.last_preserved_timestamp == .5
  # What TensorFlow's readers read.
  assert tf.train.get_checkpoint_state(str(tmp_path)) == state


def test_object_graph_key_mapping_of_an_object_based_checkpoint(tmp_path):
  variable = tf.Variable(1., name='named')
  path = tf.train.Checkpoint(v=variable).write(str(tmp_path / 'ckpt'))
  assert tf_internals.object_graph_key_mapping(path) == {
      'named': 'v/.ATTRIBUTES/VARIABLE_VALUE'}


def test_frozen_saveable_objects_of_a_checkpoint():
  variable = tf.Variable(1.)
  saveables = tf_internals.frozen_saveable_objects(
      tf.train.Checkpoint(v=variable))
  assert [(s.specs[0].name, s.op is variable) for s in saveables] == [
      ('v/.ATTRIBUTES/VARIABLE_VALUE', True),
      ('_CHECKPOINTABLE_OBJECT_GRAPH', False)]


def test_saver_var_list_and_retention():
  with tf.Graph().as_default():
    variable = _v1.Variable(1., use_resource=True)
    saver = _v1.train.Saver({'key': variable}, max_to_keep=3,
                            keep_checkpoint_every_n_hours=2)
    assert tf_internals.saver_var_list(saver) == {'key': variable}
    assert tf_internals.saver_retention(saver) == (3, 2)
    # The Saver of every variable holds their list once built.
    assert tf_internals.saver_var_list(_v1.train.Saver()) == [variable]
    assert tf_internals.saver_var_list(
        _v1.train.Saver(defer_build=True)) is None


# --- Datasets ---------------------------------------------------------------


def test_iterator_resource_is_what_a_get_next_reads():
  iterator = iter(tf.data.Dataset.range(5, 8))
  handle = tf_internals.iterator_resource(iterator)
  assert handle.dtype == tf.resource
  assert int(tf.raw_ops.IteratorGetNext(
      iterator=handle, output_types=[tf.int64], output_shapes=[[]])[0]) == 5
  assert int(next(iterator)) == 6


def test_endless_is_a_datasets_infinite_cardinality():
  assert tf_internals.endless(iter(tf.data.Dataset.range(2).repeat()))
  assert not tf_internals.endless(iter(tf.data.Dataset.range(2).repeat(3)))
  # A generator's end is unknown until it comes.
  assert not tf_internals.endless(iter(tf.data.Dataset.from_generator(
      lambda: iter([1]), output_signature=tf.TensorSpec([], tf.int32))))
  assert not tf_internals.endless(object())


def test_also_capture_by_value_lets_one_shot_iterators_copy_seed_generators():
  allowed = []
  tf_internals.also_capture_by_value(('DummySeedGenerator',),
                                     lambda: bool(allowed))

  @tf.function
  def draw():
    dataset = tf.data.Dataset.range(4).shuffle(4, seed=1)
    return _v1.data.make_one_shot_iterator(dataset).get_next()

  with pytest.raises(ValueError, match='DummySeedGenerator'):
    draw.get_concrete_function()
  allowed.append(True)
  assert 0 <= int(draw()) < 4


def test_create_v1_slots_in_reuses_slots_by_name_as_a_graph_did():
  lifted = []
  tf_internals.create_v1_slots_in(lambda: lifted[0] if lifted else None)

  def two_optimizers_share_slots():
    slots = []
    for _ in range(2):
      with _v1.variable_scope('net', reuse=_v1.AUTO_REUSE):
        kernel = _v1.get_variable('kernel', [2],
                                  initializer=tf.ones_initializer())
      optimizer = _v1.train.AdagradOptimizer(0.1)
      optimizer.minimize(lambda: tf.reduce_sum(kernel * kernel),
                         var_list=[kernel])
      slots.append(optimizer.get_slot(kernel, 'accumulator'))
    return slots[0] is slots[1]

  shared = []

  def build():
    lifted.append(_v1.get_default_graph())
    shared.append(two_optimizers_share_slots())

  _v1.wrap_function(build, [])  # slots made in the graph lifted from
  assert shared == [True]
  lifted.clear()
  # Eagerly (no graph lifted from) TF's own behaviour stays: a slot each.
  with _v1.variable_scope('eager'):
    assert not two_optimizers_share_slots()


# --- Distribute -------------------------------------------------------------


def test_a_strategy_made_in_a_graph_gets_collective_ordering_tokens():
  with tf.Graph().as_default():  # its device is soft-placed on a CPU host
    strategy = _v1.distribute.MirroredStrategy(['/gpu:0'])
  # pylint: disable=protected-access
  launchers = strategy.extended._collective_ops._launchers
  assert launchers and all(l._ordering_token is None for l in launchers)
  tf_internals.add_collective_ordering_tokens(strategy)
  assert all(isinstance(l._ordering_token, tf.Variable) for l in launchers)


def test_collective_keys_fixed_at_trace_time_switches_and_restores():
  # pylint: disable=protected-access
  launcher = cross_device_utils.CollectiveReplicaLauncher
  before = launcher._prefer_unique_instance_key
  with pytest.raises(ValueError):
    with tf_internals.collective_keys_fixed_at_trace_time(
        tf.distribute.get_strategy()):  # one without collectives
      assert launcher._prefer_unique_instance_key is False
      raise ValueError('restored on errors too')
  assert launcher._prefer_unique_instance_key == before


def test_strategies_give_out_collective_instance_keys_no_other_gave():
  # pylint: disable=protected-access
  first, second = (tf.distribute.MirroredStrategy(['/cpu:0']) for _ in '12')

  def draw(strategy, n):
    keys = strategy.extended._collective_keys
    (group, counters), = keys._instance_key_table.items()
    (device,) = counters
    return [keys.get_instance_key(group, device) for _ in range(n)]

  with tf_internals.collective_keys_fixed_at_trace_time(first):
    used = draw(first, 3)
  with tf_internals.collective_keys_fixed_at_trace_time(second):
    later = draw(second, 2)
  with tf_internals.collective_keys_fixed_at_trace_time(first):
    last = draw(first, 1)
  assert min(later) > max(used)  # each strategy alone starts at the same key
  assert min(last) > max(later)


def test_is_worker_failure_tells_a_lost_worker_from_a_lost_ps_task():
  lost = lambda task: tf.errors.UnavailableError(
      None, None, f'Socket closed /job:{task}/replica:0/task:1')
  assert tf_internals.is_worker_failure(lost('worker'))
  assert not tf_internals.is_worker_failure(lost('ps'))


def test_server_lib_holds_the_public_server_class():
  assert tf_internals.server_lib.Server is tf.distribute.Server


def _child(role):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TF_CONFIG', None)
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), role],
                        capture_output=True, text=True, timeout=300, env=env,
                        check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _mirrored_child():
  """The mirrored-strategy entries, on two replicas (logical CPUs)."""
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  devices = ['/cpu:0', '/cpu:1']
  strategy = tf.distribute.MirroredStrategy(devices)
  v1_strategy = _v1.distribute.MirroredStrategy(devices)
  result = {'multi_worker': [tf_internals.in_multi_worker_mode(s)
                             for s in (strategy, v1_strategy)]}
  values = tf_internals.distribute_values_from_function(
      v1_strategy, lambda context: context.replica_id_in_sync_group + 10)
  result['values'] = [int(v)
                      for v in v1_strategy.experimental_local_results(values)]
  reductions = []
  with strategy.scope():
    for scaled in (False, True):
      with (tf_internals.scale_loss_for_estimator(strategy) if scaled else
            contextlib.nullcontext()):
        reduction = strategy.extended.call_for_each_replica(
            _v1.distribute.get_loss_reduction)
      reductions.append(reduction.name)
  result['loss_reductions'] = reductions
  with tf.Graph().as_default() as graph:
    result['scaled_before'] = tf_internals.is_loss_scaled_by_optimizer(graph)
    with strategy.scope(), tf_internals.scale_loss_for_estimator(strategy):
      variable = _v1.Variable(1., use_resource=True)
      strategy.extended.call_for_each_replica(
          lambda: _v1.train.GradientDescentOptimizer(.1).compute_gradients(
              variable * 2., [variable]))
    result['scaled_after'] = tf_internals.is_loss_scaled_by_optimizer(graph)
  # A mirrored variable is no resource variable (nor released, nor hashed
  # by identity).
  with strategy.scope():
    result['mirrored_is_resource'] = isinstance(
        tf.Variable(1.), tf_internals.BaseResourceVariable)
  return result


@pytest.fixture(scope='module')
def mirrored():
  return _child('mirrored')


def test_multi_worker_mode_of_local_strategies(mirrored):
  assert mirrored['multi_worker'] == [False, False]


def test_distribute_values_from_function_of_a_v1_strategy(mirrored):
  assert mirrored['values'] == [10, 11]


def test_scale_loss_for_estimator_makes_optimizers_take_the_mean(mirrored):
  assert mirrored['loss_reductions'] == ['SUM', 'MEAN']


def test_is_loss_scaled_by_optimizer_reads_what_v1_optimizers_record(mirrored):
  assert not mirrored['scaled_before']
  assert mirrored['scaled_after']


def test_mirrored_variables_are_no_base_resource_variables(mirrored):
  assert not mirrored['mirrored_is_resource']


def _collective_server_child():
  """A one-worker MultiWorkerMirroredStrategy made with eager execution off."""
  import portpicker  # pylint: disable=g-import-not-at-top
  _v1.disable_eager_execution()
  resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec(
          {'worker': [f'localhost:{portpicker.pick_unused_port()}']}),
      task_type='worker', task_id=0, rpc_layer='grpc')
  strategy = tf.distribute.MultiWorkerMirroredStrategy(resolver)
  device = '/job:worker/replica:0/task:0/device:CPU:0'
  with tf_internals.eager_mode():
    result = {'before': device in [d.name
                                   for d in tf.config.list_logical_devices()]}
    warnings = []
    absl_logger = logging.getLogger('absl')
    absl_logger.addFilter(lambda record: warnings.append(record.getMessage()))
    tf_internals.start_collective_server(strategy)
    result['after'] = device in [d.name
                                 for d in tf.config.list_logical_devices()]
    with tf.device(device):
      variable = tf.Variable(1.)
    # Each training run asks again; TF would re-enable (and warn) each time.
    tf_internals.start_collective_server(strategy)
    result['sum'] = float(variable + 2.)
    result['restarts'] = sum('Enabling collective ops' in w for w in warnings)
  return result


@pytest.fixture(scope='module')
def collective_server():
  return _child('collective_server')


def test_start_collective_server_connects_a_graph_made_strategy(
    collective_server):
  assert collective_server == {'before': False, 'after': True, 'sum': 3.0,
                               'restarts': 1}


def _ps_child():
  """The parameter-server entries: two ps tasks, one worker, in-process."""
  import portpicker  # pylint: disable=g-import-not-at-top
  cluster = tf.train.ClusterSpec({
      job: [f'localhost:{portpicker.pick_unused_port()}' for _ in range(n)]
      for job, n in (('chief', 1), ('worker', 1), ('ps', 2))})
  # A step waiting on a ps read needs an inter-op thread besides the
  # coordinator's (see `parameter_servers.server_config_for_leader`).
  config = _v1.ConfigProto(inter_op_parallelism_threads=2)
  servers = [tf.distribute.Server(cluster, job_name=job, task_index=index,
                                  config=config)
             for job in ('worker', 'ps')
             for index in range(cluster.num_tasks(job))]
  strategy = tf.distribute.experimental.ParameterServerStrategy(
      tf.distribute.cluster_resolver.SimpleClusterResolver(
          cluster, task_type='chief', task_id=0, rpc_layer='grpc'))
  coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(
      strategy)
  result = {'partitioner': repr(tf_internals.variable_partitioner(strategy)),
            'num_workers': tf_internals.ps_num_workers(strategy)}

  def in_turn(next_creator, **kwargs):
    return tf_internals.ps_create_variable(strategy, next_creator, **kwargs)

  def on_ps_1(next_creator, **kwargs):
    create = tf_internals.ps_variable_creator(strategy, next_creator, **kwargs)
    with tf.device('/job:ps/replica:0/task:1'):
      return create(**kwargs)

  with tf.variable_creator_scope(in_turn):
    first, second = tf.Variable(1.), tf.Variable(2.)
  with tf.variable_creator_scope(on_ps_1):
    placed = tf.Variable(3.)
  result['devices'] = [tf.DeviceSpec.from_string(v.device).task
                       for v in (first, second, placed)]
  workers = tf_internals.coordinator_workers(coordinator)
  result['workers'] = len(workers)
  make_dataset = tf.function(
      lambda: tf.data.Dataset.range(3)).get_concrete_function()
  iterators = []
  for worker in workers:
    iterator = worker.create_resource(lambda: iter(make_dataset()))
    tf_internals.set_iterator_spec(iterator, strategy,
                                   make_dataset.structured_outputs)
    iterators.append(iterator)
  per_worker = tf_internals.PerWorkerDistributedIterator(tuple(iterators))

  @tf.function
  def step(iterator):
    return next(iterator) + tf.cast(placed.read_value(), tf.int64)

  result['steps'] = [int(coordinator.schedule(step, args=(per_worker,)).fetch())
                     for _ in range(2)]
  del servers  # served until here
  return result


@pytest.fixture(scope='module')
def parameter_servers():
  return _child('ps')


def test_parameter_server_strategy_internals(parameter_servers):
  assert parameter_servers['partitioner'] == 'None'
  assert parameter_servers['num_workers'] == 1
  # In turn over the ps tasks; the creator alone leaves the device to the
  # caller's scope.
  assert parameter_servers['devices'] == [0, 1, 1]


def test_coordinator_workers_run_their_own_iterators(parameter_servers):
  assert parameter_servers['workers'] == 1
  assert parameter_servers['steps'] == [3, 4]


# --- Summaries and events ---------------------------------------------------


def test_has_default_summary_writer_within_a_writers_block(tmp_path):
  assert not tf_internals.has_default_summary_writer()
  with tf.summary.create_file_writer(str(tmp_path)).as_default():
    assert tf_internals.has_default_summary_writer()


def test_graph_seed_seeds_eager_ops_made_in_the_block_only():
  with tf.Graph().as_default() as graph:
    graph.seed = 42
    in_graph = tf.compat.v1.get_seed(7)
  outside = tf.compat.v1.get_seed(7)
  with tf_internals.graph_seed(42):
    assert tf.compat.v1.get_seed(7) == in_graph
  assert tf.compat.v1.get_seed(7) == outside  # the global seed is back


def test_graph_seed_hands_out_op_seeds_as_a_graph_does():
  with tf.Graph().as_default() as graph:
    graph.seed = 42
    in_graph = [tf.compat.v1.get_seed(None) for _ in range(2)]
    assert tf_internals.op_seeds_drawn() == 2
  with tf_internals.graph_seed(42):
    assert [tf.compat.v1.get_seed(None) for _ in range(2)] == in_graph
    assert tf_internals.op_seeds_drawn() == 2
  with tf.Graph().as_default() as graph:
    graph.seed = 42
    tf_internals.continue_op_seeds(graph, 1)
    assert tf.compat.v1.get_seed(None) == in_graph[1]


def test_per_graph_function_is_a_tf_function_without_the_retracing_count():
  function = tf_internals.per_graph_function(lambda x: x + 1, autograph=False)
  assert function(tf.constant(1)).numpy() == 2
  assert function._omit_frequent_tracing_warning  # pylint: disable=protected-access
  assert not tf.function(lambda x: x)._omit_frequent_tracing_warning  # pylint: disable=protected-access


def test_summary_writers_made_lists_the_writers_of_its_block(tmp_path):
  made = []
  before = tf.summary.create_file_writer(str(tmp_path / 'before'))
  with tf_internals.summary_writers_made(made):
    inside = tf.summary.create_file_writer(str(tmp_path / 'inside'))
  after = tf.summary.create_file_writer(str(tmp_path / 'after'))
  assert made == [inside]
  assert before is not inside and after is not inside


def test_tensorboard_summaries_are_tfs_exports_of_them():
  assert [f.__name__ for f in tf_internals.tensorboard_summaries] == [
      'audio', 'histogram', 'image', 'scalar', 'text']
  assert all(f.__module__ == 'tensorflow.python.summary.tb_summary'
             for f in tf_internals.tensorboard_summaries)


def test_import_event_writes_a_whole_event(tmp_path):
  event = _v1.Event(graph_def=tf.Graph().as_graph_def().SerializeToString(),
                    wall_time=5.)
  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    tf_internals.import_event(tf.constant(event.SerializeToString()))
  writer.close()
  events = [e for name in os.listdir(tmp_path)
            for e in _v1.train.summary_iterator(str(tmp_path / name))]
  assert [(e.WhichOneof('what'), e.wall_time) for e in events][1:] == [
      ('graph_def', 5.)]


# --- SavedModel utilities ---------------------------------------------------


def test_export_outputs_and_signature_defs_of_a_mode():
  keys = tf_internals.EstimatorModeKeys
  assert (keys.TRAIN, keys.EVAL, keys.PREDICT) == ('train', 'eval', 'infer')
  with tf.Graph().as_default():
    features = _v1.placeholder(tf.float32, [None, 1], name='x')
    outputs = tf_internals.export_outputs_for_mode(
        keys.PREDICT, predictions={'y': features * 2.})
    module = tf_internals.export_output
    assert isinstance(outputs['serving_default'], module.PredictOutput)
    assert issubclass(module.PredictOutput, module.ExportOutput)
    signatures = tf_internals.build_all_signature_defs(
        {'x': features}, outputs, serving_only=True)
  assert list(signatures) == ['serving_default']
  serving = signatures['serving_default']
  assert serving.method_name == 'tensorflow/serving/predict'
  assert list(serving.outputs) == ['y']


# --- Training hooks ---------------------------------------------------------


def test_session_interface_is_what_v1_sessions_are():
  assert issubclass(tf.compat.v1.Session, tf_internals.SessionInterface)


def test_basic_session_run_hooks_is_the_module_2_15s_tests_patch():
  module = tf_internals.basic_session_run_hooks
  assert module.SecondOrStepTimer is _v1.train.SecondOrStepTimer
  assert module.__name__ == 'tensorflow.python.training.basic_session_run_hooks'


def test_hook_timers_and_their_schedules():
  by_steps = tf_internals.hook_timer(
      _v1.train.LoggingTensorHook(['a'], every_n_iter=3))
  assert isinstance(by_steps, _v1.train.SecondOrStepTimer)
  assert tf_internals.timer_every_steps(by_steps) == 3
  assert tf_internals.timer_every_secs(by_steps) is None
  by_secs = tf_internals.hook_timer(_v1.train.StepCounterHook(
      every_n_steps=None, every_n_secs=5))
  assert tf_internals.timer_every_secs(by_secs) == 5
  assert tf_internals.timer_every_steps(by_secs) is None
  at_end = tf_internals.hook_timer(_v1.train.LoggingTensorHook(['a'],
                                                               at_end=True))
  assert not isinstance(at_end, _v1.train.SecondOrStepTimer)


def test_logging_hook_step_count_and_tensors():
  hook = _v1.train.LoggingTensorHook({'tag': 'a'}, every_n_iter=2)
  assert tf_internals.logging_hook_tensors(hook) == {'tag': 'a'}
  with tf.Graph().as_default():
    tensor = tf.constant(2.)
    tf_internals.logging_hook_tensors(hook)['tag'] = tensor  # the hook's own
    hook.begin()  # finds its tensors in the default graph
    assert tf_internals.iter_count(hook) == 0
    tf_internals.advance_iter_count(hook, 3)
    assert tf_internals.iter_count(hook) == 3
    fetched = hook.before_run(None).fetches  # the tensors set
  assert tf_internals.logging_hook_tensors(hook) == {'tag': tensor}
  assert fetched == {'tag': tensor}


def test_stop_at_step_and_global_step_waiter_steps():
  assert tf_internals.last_step(_v1.train.StopAtStepHook(last_step=10)) == 10
  assert tf_internals.wait_until_step(
      _v1.train.GlobalStepWaiterHook(wait_until_step=7)) == 7


def test_add_saving_listeners_makes_the_hook_call_them(tmp_path):
  calls = []

  class Listener(_v1.train.CheckpointSaverListener):

    def before_save(self, session, global_step_value):
      calls.append(('before_save', global_step_value))

    def after_save(self, session, global_step_value):
      calls.append(('after_save', global_step_value))

  with tf.Graph().as_default():
    _v1.train.get_or_create_global_step()
    _v1.Variable(np.zeros(2, np.float32), use_resource=True)
    hook = _v1.train.CheckpointSaverHook(str(tmp_path), save_steps=1)
    tf_internals.add_saving_listeners(hook, [Listener()])
    with _v1.train.SingularMonitoredSession(hooks=[hook]):
      pass  # saves at step 0 when created
  assert calls[:2] == [('before_save', 0), ('after_save', 0)]


if __name__ == '__main__':
  _CHILDREN = {'mirrored': _mirrored_child, 'ps': _ps_child,
               'collective_server': _collective_server_child}
  print(json.dumps(_CHILDREN[sys.argv[1]]()), flush=True)


def _tf_numpy_compat_as_shipped():
  """A fresh copy of TF's `numpy_compat` module, as TF wrote it."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.find_spec('tensorflow.python.util.numpy_compat')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize('values, dtype, kwargs', [
    ([1, 2], np.float32, {}),
    ([300, -1], np.uint8, {}),  # wraps under NumPy 2 as under NumPy 1
    (2**40, np.int32, {}),
    ([[1.5, 2.5]], np.int64, {'order': 'C'}),
    (np.arange(4, dtype=np.float64), np.float64, {}),
    (np.arange(4, dtype=np.float64), np.float32, {'copy': True}),
    ([b'a', b'bc'], object, {'order': 'C'}),
    (['x', 'yz'], None, {}),
    ([True, False], np.bool_, {}),
    (3.5, None, {'order': 'C'}),
])
def test_np_asarray_gives_tf_s_values(values, dtype, kwargs):
  from tensorflow.python.util import numpy_compat  # pylint: disable=g-import-not-at-top
  assert numpy_compat.np_asarray is tf_internals._asarray_wrapping_overflow  # pylint: disable=protected-access
  expected = _tf_numpy_compat_as_shipped().np_asarray(values, dtype, **kwargs)
  got = numpy_compat.np_asarray(values, dtype, **kwargs)
  assert got.dtype == expected.dtype and got.shape == expected.shape
  np.testing.assert_array_equal(got, expected)
  assert got.flags['C_CONTIGUOUS'] == expected.flags['C_CONTIGUOUS']
  if isinstance(values, np.ndarray):
    assert np.shares_memory(got, values) == np.shares_memory(expected, values)


def test_generator_input_yields_through_the_installed_conversion():
  """`Dataset.from_generator`'s elements pass through it (and still overflow
  to what NumPy 1 gave), so its speed is a generator input_fn's."""
  def generator():
    yield [1, 2], [300]
  dataset = tf.data.Dataset.from_generator(
      generator, output_types=(tf.float32, tf.uint8),
      output_shapes=((2,), (1,)))
  from tensorflow.python.util import numpy_compat  # pylint: disable=g-import-not-at-top
  calls = []
  installed = numpy_compat.np_asarray
  def counted(*args, **kwargs):
    calls.append(args[1] if len(args) > 1 else kwargs.get('dtype'))
    return installed(*args, **kwargs)
  numpy_compat.np_asarray = counted
  try:
    features, label = next(iter(dataset))
  finally:
    numpy_compat.np_asarray = installed
  assert features.numpy().tolist() == [1.0, 2.0]
  assert label.numpy().tolist() == [44]  # 300 mod 256
  assert {np.float32, np.uint8} <= set(calls), calls


def test_random_ops_built_by_builds_the_stream_random_ops_in_the_block():
  built = []

  def builder(kind, original, *args, **kwargs):
    built.append(kind)
    return original(*args, **kwargs)

  with tf_internals.random_ops_built_by(builder), tf.Graph().as_default():
    tf.random.uniform([2])
    tf.random.uniform([2], maxval=3, dtype=tf.int32)
    tf.random.normal([2])
    tf.random.truncated_normal([2])
    tf.nn.dropout(tf.ones([2]), rate=0.5)
  with tf.Graph().as_default():
    tf.random.uniform([2])  # after the block: TF's own builder
  assert built == ['random_uniform', 'random_uniform_int',
                   'random_standard_normal', 'truncated_normal',
                   'random_uniform']
  assert set(built) == set(tf_internals.STREAM_RANDOM_OPS)


def test_variable_unseen_by_creators_skips_the_creators_in_scope():
  seen = []

  def creator(next_creator, **kwargs):
    seen.append(kwargs['name'])
    return next_creator(**kwargs)

  with tf.variable_creator_scope(creator):
    tf.Variable(1, name='seen')
    variable = tf_internals.variable_unseen_by_creators(initial_value=2,
                                                        name='unseen')
  assert seen == ['seen']
  assert isinstance(variable, tf.Variable) and int(variable.numpy()) == 2
