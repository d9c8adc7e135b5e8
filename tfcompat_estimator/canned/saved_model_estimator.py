"""`SavedModelEstimator`: an Estimator whose model is a SavedModel's graphs.

2.15's `canned/saved_model_estimator.py`. The SavedModel is one written by
an Estimator's `export_saved_model` or `experimental_export_all_saved_models`
(by 2.15 or by this package): a MetaGraph per mode, tagged as
`export_lib.EXPORT_TAG_MAP` says, with the signature `train`, `eval` or
`serving_default`. Its model_fn imports the mode's graph with the batch in
place of the signature's inputs and returns the signature's outputs as the
`EstimatorSpec`; its `variables/` checkpoint is where training starts, and
what evaluate, predict and exports read until `model_dir` has a checkpoint.

How the import differs from 2.15's (`SavedModelLoader.load_graph` into the
model_fn's `tf.Graph`): the engine captures model graphs as function graphs
whose variables live outside them, so the graph's variable ops are not
imported. Each variable of the MetaGraph is created again, under its name,
collections and slice of a partitioned variable, as a resource variable the
engine checkpoints; the imported ops use its handle instead. Reference
variables (what TF1 programs' `get_variable` and v1 metrics make, so 2.15's
and our TF1-mode exports hold them) have their ops rewritten to the
resource ops doing the same: `Assign` to `AssignVariableOp`, a read to
`ReadVariableOp`, an optimizer's `ApplyAdagrad` to `ResourceApplyAdagrad`,
and so on. The SavedModel's global step becomes the Estimator's own, which
2.15 got by not creating one (`_create_and_assert_global_step`). Asset
tensors are given the files in the SavedModel's `assets/` as constants, not
fed (2.15's `local_init_feed_dict`), so a re-export copies those files.

The tables the SavedModel's saver saved (`MutableHashTable` contents) are
found in its save graph (`LookupTableExportV2` outputs) and get saveables
under the same keys, so the engine checkpoints and restores them as a
model_fn's own (engine/graph_saveables.py).

Known difference from 2.15: the input_fn runs in a graph of its own, not in
the model's: that it creates no global step (2.15's check) is checked on
its own variables.
"""

import collections
import functools
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import graph_pb2
from tensorflow.core.framework import variable_pb2
from tensorflow.python.framework import op_def_registry
from tensorflow.python.framework import importer
from tensorflow.python.framework import ops
from tensorflow.python.framework import tensor_util
from tensorflow.python.ops import gen_lookup_ops
from tensorflow.python.ops import resource_variable_ops
from tensorflow.python.ops import variables as variables_lib
from tensorflow.python.platform import tf_logging as logging
from tensorflow.python.saved_model import constants
from tensorflow.python.saved_model import loader_impl
from tensorflow.python.saved_model import path_helpers
from tensorflow.python.saved_model import signature_constants
from tensorflow.python.training.saving import saveable_object

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator.export import export_lib
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator import model_fn as model_fn_lib

ModeKeys = model_fn_lib.ModeKeys
_v1 = tf.compat.v1


class SavedModelEstimator(estimator_lib.EstimatorV2):
  """An Estimator from a SavedModel that an Estimator exported.

  Only SavedModels exported with `Estimator.experimental_export_all_saved_models`
  or `Estimator.export_saved_model` are supported. Each mode runs the MetaGraph
  exported for it: train and evaluate need those of
  `experimental_export_all_saved_models`; predict needs the serving one.

  ```python
  export_dir = classifier.experimental_export_all_saved_models(
      '/tmp/export_all',
      {tf.estimator.ModeKeys.TRAIN: supervised_input_receiver_fn,
       tf.estimator.ModeKeys.EVAL: supervised_input_receiver_fn,
       tf.estimator.ModeKeys.PREDICT: serving_input_receiver_fn})
  est = SavedModelEstimator(export_dir)
  est.evaluate(input_fn, steps=1)     # starts from the SavedModel's variables
  est.train(input_fn, steps=20)       # checkpoints go to est.model_dir
  ```

  Features and labels are matched to the signature's inputs by key (a lone
  features tensor is `feature`, a lone labels tensor `label`); each must have
  the dtype and a shape compatible with the signature's.
  """

  def __init__(self, saved_model_dir, model_dir=None):
    """Reads the SavedModel's MetaGraphs.

    There is no `config` or `params`: the model function is the SavedModel's.

    Args:
      saved_model_dir: directory holding the SavedModel (str or bytes).
      model_dir: directory for new checkpoints (a temporary one if None).

    Raises:
      NotImplementedError: a distribution strategy is configured (only a
        subclass could set one).
      IOError/OSError: `saved_model_dir` holds no SavedModel.
    """
    super().__init__(model_fn=self._model_fn_from_saved_model,
                     model_dir=model_dir)
    if self._config.train_distribute or self._config.eval_distribute:
      raise NotImplementedError(
          'SavedModelEstimator currently does not support '
          'DistributionStrategy.')
    self.saved_model_dir = saved_model_dir
    self._saved_model_path = os.fsdecode(saved_model_dir)
    self.saved_model_loader = loader_impl.SavedModelLoader(
        self._saved_model_path)
    self._available_modes = self._extract_available_modes()

  # The SavedModel and its modes --------------------------------------------
  def _extract_available_modes(self):
    """The modes whose MetaGraph and signature the SavedModel has."""
    available_modes = []
    logging.info('Checking available modes for SavedModelEstimator.')
    for mode in [ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT]:
      try:
        self._get_meta_graph_def_for_mode(mode)
      except RuntimeError:
        logging.warning('%s mode not found in SavedModel.', mode)
        continue
      if self._get_signature_def_for_mode(mode) is not None:
        available_modes.append(mode)
    logging.info('Available modes for Estimator: %s', available_modes)
    return available_modes

  def _validate_mode(self, mode):
    if mode not in self._available_modes:
      raise RuntimeError(
          f'{mode} mode is not available in the SavedModel. Use '
          'saved_model_cli to check that the Metagraph for this mode has been '
          'exported.')

  def _get_meta_graph_def_for_mode(self, mode):
    tags = export_lib.EXPORT_TAG_MAP[mode]
    return self.saved_model_loader.get_meta_graph_def_from_tags(tags)

  def _get_signature_def_for_mode(self, mode):
    meta_graph_def = self._get_meta_graph_def_for_mode(mode)
    if mode == ModeKeys.PREDICT:
      sig_def_key = signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY
    else:
      sig_def_key = mode
    if sig_def_key not in meta_graph_def.signature_def:
      logging.warning('Metagraph for mode %s was found, but SignatureDef with '
                      'key "%s" is missing.', mode, sig_def_key)
      return None
    return meta_graph_def.signature_def[sig_def_key]

  def _get_saver_def_from_mode(self, mode):
    return self._get_meta_graph_def_for_mode(mode).saver_def

  def _create_and_assert_global_step(self, graph):
    """2.15's hook, kept for callers: the global step comes from the SavedModel."""
    del graph
    return None

  # Checkpoints --------------------------------------------------------------
  def latest_checkpoint(self):
    """The latest checkpoint in `model_dir`, else the SavedModel's variables."""
    return (super().latest_checkpoint() or
            _get_saved_model_ckpt(self._saved_model_path))

  def _restore_from_saver(self, scaffold, session):
    """Scaffold `init_fn` of a training that finds no checkpoint in model_dir.

    Its variables and tables start from the SavedModel's `variables/`, as
    2.15's `Saver(saver_def).restore` started them.
    """
    path = _get_saved_model_ckpt(self._saved_model_path)
    checkpoints.restore(scaffold.restore_keys, path)
    if session.captured.saveables is not None:  # its tables (_TableSaveable)
      session.captured.saveables.restore(path)

  # Train / evaluate / predict: the input_fn must not make a global step -----
  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
    return super().train(_without_global_step(input_fn), hooks=hooks,
                         steps=steps, max_steps=max_steps,
                         saving_listeners=saving_listeners)

  def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None,
               name=None):
    return super().evaluate(_without_global_step(input_fn), steps=steps,
                            hooks=hooks, checkpoint_path=checkpoint_path,
                            name=name)

  def predict(self, input_fn, predict_keys=None, hooks=None,
              checkpoint_path=None, yield_single_examples=True):
    return super().predict(_without_global_step(input_fn),
                           predict_keys=predict_keys, hooks=hooks,
                           checkpoint_path=checkpoint_path,
                           yield_single_examples=yield_single_examples)

  # The model_fn -------------------------------------------------------------
  def _model_fn_from_saved_model(self, features, labels, mode):
    """Imports the mode's MetaGraph on the batch; returns its EstimatorSpec."""
    self._validate_mode(mode)
    signature_def = self._get_signature_def_for_mode(mode)
    input_map = _generate_input_map(signature_def, features, labels)
    meta_graph_def = self._get_meta_graph_def_for_mode(mode)
    output_names = [value.name for value in signature_def.outputs.values()]
    imported = _GraphImporter(meta_graph_def, self._saved_model_path).run(
        input_map, output_names)

    outputs = {key: imported.elements[value.name]
               for key, value in signature_def.outputs.items()}
    loss, predictions, metrics = _validate_and_extract_outputs(
        mode, outputs, signature_def.method_name)
    train_ops = imported.train_ops
    if len(train_ops) > 1:
      raise RuntimeError('Multiple ops found in the train_op collection.')
    train_op = train_ops[0] if train_ops else None

    init_fn = None
    if not super().latest_checkpoint():
      init_fn = self._restore_from_saver
    # As 2.15 mirrored the export: the SavedModel's main op initializes
    # each session's local state.
    scaffold = _SavedModelScaffold(
        imported.restore_keys, local_init_op=imported.main_op,
        saver=imported.saver, init_fn=init_fn)
    return model_fn_lib.EstimatorSpec(
        mode=mode, loss=loss, train_op=train_op, predictions=predictions,
        eval_metric_ops=metrics, scaffold=scaffold)


class _SavedModelScaffold(_v1.train.Scaffold):
  """A Scaffold that knows what the SavedModel's checkpoint holds."""

  def __init__(self, restore_keys, **kwargs):
    super().__init__(**kwargs)
    self.restore_keys = restore_keys  # SavedModel checkpoint key -> variable


def _without_global_step(input_fn):
  """`input_fn`, failing as 2.15 did if it creates a global step.

  2.15 imported the SavedModel into the graph the input_fn had built, whose
  own global step would have doubled the SavedModel's. Here the input_fn
  has a graph of its own; a global step in it is refused all the same.
  """
  if not callable(input_fn):
    return input_fn  # the Estimator says what is wrong with it

  def checked(mode=None, params=None, config=None, input_context=None):
    made = []

    def record(next_creator, **kwargs):
      # An eager global step joins no collection: its creation tells.
      if _v1.GraphKeys.GLOBAL_STEP in (kwargs.get('collections') or ()):
        made.append(kwargs.get('name'))
      return next_creator(**kwargs)

    with tf.variable_creator_scope(record):
      result = input_fn(**model_fn_lib.supported_kwargs(
          input_fn, mode=mode, params=params, config=config,
          input_context=input_context))
    if made or not tf.executing_eagerly() and _v1.train.get_global_step(
        _v1.get_default_graph()) is not None:
      raise RuntimeError(
          'Graph must not contain a global step tensor before the SavedModel '
          'is loaded. Please make sure that the input function does not '
          'create a global step.')
    return result

  return checked


def _get_saved_model_ckpt(saved_model_dir):
  """The path of the variables checkpoint of a SavedModel directory."""
  if not tf.io.gfile.exists(os.path.join(
      path_helpers.get_variables_dir(saved_model_dir),
      tf.compat.as_text('variables.index'))):
    raise ValueError('Directory provided has an invalid SavedModel format: '
                     f'{saved_model_dir}')
  return path_helpers.get_variables_path(saved_model_dir)


def _clear_saved_model_collections():
  """Empties the collections a SavedModel builder expects empty (2.15's helper).

  The import here adds nothing to them; kept for callers of 2.15's name.
  """
  for key in (constants.ASSETS_KEY, constants.LEGACY_INIT_OP_KEY,
              constants.MAIN_OP_KEY, constants.TRAIN_OP_KEY):
    del _v1.get_collection_ref(key)[:]


def _generate_input_map(signature_def, features, labels):
  """Signature input tensor name (and its '^' control form) -> batch tensor.

  Raises:
    ValueError: an input of the signature is in neither `features` nor
      `labels`, or has another dtype or an incompatible shape.
  """
  features = export_lib.wrap_and_check_input_tensors(features, 'feature')
  if labels is not None:
    labels = export_lib.wrap_and_check_input_tensors(labels, 'label')
  inputs = signature_def.inputs
  input_map = {}
  for key, tensor_info in inputs.items():
    if key in features:
      tensor = features[key]
    elif labels is not None and key in labels:
      tensor = labels[key]
    else:
      raise ValueError(
          f'Key "{key}" not found in features or labels passed in to the '
          f'model function. All required keys: {sorted(inputs.keys())}')
    _check_same_dtype_and_shape(tensor, tensor_info, key)
    encoding = tensor_info.WhichOneof('encoding')
    if encoding == 'coo_sparse':
      if not isinstance(tensor, tf.SparseTensor):
        raise ValueError(f'Input {key} of the SavedModel is a SparseTensor; '
                         f'got {tensor!r}.')
      coo = tensor_info.coo_sparse
      parts = [(coo.indices_tensor_name, tensor.indices),
               (coo.values_tensor_name, tensor.values),
               (coo.dense_shape_tensor_name, tensor.dense_shape)]
    elif encoding == 'name':
      if isinstance(tensor, tf.SparseTensor):
        raise ValueError(f'Input {key} of the SavedModel is a dense Tensor; '
                         f'got {tensor!r}.')
      parts = [(tensor_info.name, tensor)]
    else:
      raise ValueError(f'Input {key} of the SavedModel is a {encoding} '
                       'tensor, which SavedModelEstimator does not support.')
    for name, part in parts:
      # Ops that ran after an input have it as a control input, '^name'.
      input_map[name if ':' in name else name + ':0'] = part
      input_map['^' + name.split(':')[0]] = part
  return input_map


def _check_same_dtype_and_shape(tensor, tensor_info, name):
  """ValueError unless `tensor` fits the signature input `tensor_info`."""
  expected_dtype = tf.dtypes.as_dtype(tensor_info.dtype)
  expected_shape = tf.TensorShape(tensor_info.tensor_shape)
  dtype_error = tensor.dtype != expected_dtype
  shape_error = not tensor.shape.is_compatible_with(expected_shape)
  if dtype_error or shape_error:
    msg = f'Tensor shape and/or dtype validation failed for input {name}:'
    if dtype_error:
      msg += f'\n\tExpected dtype: {expected_dtype}, Got: {tensor.dtype}'
    if shape_error:
      msg += f'\n\tExpected shape: {expected_shape}, Got: {tensor.shape}'
    raise ValueError(msg)


def _extract_eval_metrics(output_dict):
  """`{name: (value, update_op)}` from an eval signature's outputs.

  A metric is exported as `metrics/<name>/value` and `metrics/<name>/update_op`;
  only names with both are metrics.
  """
  # pylint: disable=protected-access
  output = export_lib._SupervisedOutput
  separator = output._SEPARATOR_CHAR
  metric_ops = {}
  for key, tensor in output_dict.items():
    split_key = key.split(separator)
    metric_name = separator.join(split_key[:-1])
    if (split_key[0] == output.METRICS_NAME and
        split_key[-1] == output.METRIC_VALUE_SUFFIX):
      update_op = separator.join([metric_name, output.METRIC_UPDATE_SUFFIX])
      if update_op in output_dict:
        metric_ops[metric_name] = (tensor, output_dict[update_op])
  return metric_ops


def _validate_and_extract_outputs(mode, output_dict, method_name):
  """(loss, predictions, metrics) from a signature's outputs.

  Raises:
    RuntimeError: the signature's method is not the mode's.
  """
  # pylint: disable=protected-access
  output = export_lib._SupervisedOutput
  loss, predictions, metrics = None, None, None
  if mode == ModeKeys.PREDICT:
    predictions = output_dict
  else:
    expected_method_name = signature_constants.SUPERVISED_TRAIN_METHOD_NAME
    if mode == ModeKeys.EVAL:
      expected_method_name = signature_constants.SUPERVISED_EVAL_METHOD_NAME
    if method_name != expected_method_name:
      raise RuntimeError(
          f'Invalid SignatureDef method name for mode {mode}.\n\tExpected: '
          f'{expected_method_name}\n\tGot: {method_name}\nPlease ensure that '
          'the SavedModel was exported with '
          '`tf.estimator.experimental_export_all_saved_models()`.')
    loss = output_dict[output.LOSS_NAME]
    metrics = _extract_eval_metrics(output_dict)
    predictions = {
        key: value for key, value in output_dict.items()
        if key.split(output._SEPARATOR_CHAR)[0] == output.PREDICTIONS_NAME}
  return loss, predictions, metrics


# Importing a MetaGraph into the model graph ----------------------------------

_VARIABLE_OPS = frozenset(['VariableV2', 'Variable', 'VarHandleOp'])
_REF_VARIABLE_OPS = frozenset(['VariableV2', 'Variable'])
# Collections of VariableDefs: a variable is created again in each it was in.
_VARIABLE_COLLECTIONS = (
    _v1.GraphKeys.GLOBAL_VARIABLES, _v1.GraphKeys.LOCAL_VARIABLES,
    _v1.GraphKeys.TRAINABLE_VARIABLES, _v1.GraphKeys.MODEL_VARIABLES,
    _v1.GraphKeys.MOVING_AVERAGE_VARIABLES, _v1.GraphKeys.METRIC_VARIABLES)
# Collections not carried over: the SavedModel's own bookkeeping (read here
# instead), savers, and those whose items only the graph's builder used.
_SKIPPED_COLLECTIONS = frozenset([
    constants.ASSETS_KEY, constants.LEGACY_INIT_OP_KEY, constants.MAIN_OP_KEY,
    constants.TRAIN_OP_KEY, _v1.GraphKeys.ASSET_FILEPATHS,
    _v1.GraphKeys.GLOBAL_STEP, _v1.GraphKeys.SAVERS, _v1.GraphKeys.INIT_OP,
    _v1.GraphKeys.LOCAL_INIT_OP, _v1.GraphKeys.READY_OP,
    _v1.GraphKeys.READY_FOR_LOCAL_INIT_OP, _v1.GraphKeys.TRAIN_OP,
    _v1.GraphKeys.QUEUE_RUNNERS, _v1.GraphKeys.COND_CONTEXT,
    _v1.GraphKeys.WHILE_CONTEXT, _v1.GraphKeys.SAVEABLE_OBJECTS,
]) | frozenset(_VARIABLE_COLLECTIONS)

# Ops writing a reference variable -> the resource op doing the same. The
# resource op has no output; a read of the variable after it stands for the
# reference op's output (the variable's new value).
_WRITES = {
    'Assign': 'AssignVariableOp',
    'AssignAdd': 'AssignAddVariableOp',
    'AssignSub': 'AssignSubVariableOp',
}
_SCATTERS = {f'Scatter{kind}': f'ResourceScatter{kind}' for kind in (
    'Add', 'Sub', 'Mul', 'Div', 'Min', 'Max', 'Update')}
_SCATTERS.update({f'ScatterNd{kind}': f'ResourceScatterNd{kind}' for kind in (
    'Add', 'Sub', 'Update', 'Max', 'Min')})
_APPLIES = {f'{prefix}Apply{kind}': f'Resource{prefix}Apply{kind}'
            for prefix in ('', 'Sparse') for kind in (
                'GradientDescent', 'ProximalGradientDescent', 'Adadelta',
                'Adagrad', 'AdagradV2', 'ProximalAdagrad', 'AdagradDA', 'Ftrl',
                'FtrlV2', 'Momentum', 'KerasMomentum', 'Adam', 'AdaMax',
                'AddSign', 'PowerSign', 'RMSProp', 'CenteredRMSProp')}


def _node_name(input_name):
  """The node an input string ('name', 'name:1', '^name') comes from."""
  return input_name.lstrip('^').split(':')[0]


def _output_index(input_name):
  parts = input_name.split(':')
  return int(parts[1]) if len(parts) > 1 else 0


def _input_args(node):
  """The OpDef input arg of each data input of `node` (None if unknown)."""
  op_def = op_def_registry.get(node.op)
  if op_def is None:
    return None
  args = []
  for arg in op_def.input_arg:
    if arg.number_attr:
      count = node.attr[arg.number_attr].i
    elif arg.type_list_attr:
      count = len(node.attr[arg.type_list_attr].list.type)
    else:
      count = 1
    args.extend([arg] * count)
  return args


class _Imported:
  """What an import gives the model_fn."""

  def __init__(self):
    self.elements = {}  # name in the MetaGraph -> imported tensor or op
    self.main_op = None
    self.train_ops = []
    self.saver = None
    self.restore_keys = collections.OrderedDict()  # SavedModel key -> variable


class _GraphImporter:
  """Imports one MetaGraph of a SavedModel into the default graph.

  The default graph is the engine's function graph of a mode, or the plain
  `tf.Graph` an export builds. Variables are created as resource variables
  before the import (see the module docstring), so the engine records and
  checkpoints them as those of any model_fn.
  """

  def __init__(self, meta_graph_def, export_dir):
    self._meta = meta_graph_def
    self._export_dir = export_dir
    self._graph = _v1.get_default_graph()
    self._graph_def = graph_pb2.GraphDef()
    self._graph_def.CopyFrom(meta_graph_def.graph_def)
    self._nodes = {node.name: node for node in self._graph_def.node}

  def run(self, input_map, element_names):
    """Imports the graph with `input_map`; `element_names` are to be returned."""
    imported = _Imported()
    variable_defs = self._variable_defs()
    global_step_node = self._global_step_node(variable_defs)
    keys = _saver_keys(self._graph_def, self._nodes)
    tables = _saver_tables(self._graph_def, self._nodes)
    variables, handles = self._make_variables(variable_defs, global_step_node)
    converted = {name for name, target in handles.items()
                 if self._nodes[name].op in _REF_VARIABLE_OPS and
                 target.dtype == tf.resource}
    input_map = dict(input_map)
    for name, target in handles.items():
      input_map[name + ':0'] = target
      input_map['^' + name] = target
    self._rewrite(handles, converted)
    self._share_resources()
    assets = self._asset_constants()
    input_map.update(assets)

    main_ops = self._ops_named_by(constants.INIT_OP_SIGNATURE_KEY,
                                  constants.MAIN_OP_KEY,
                                  constants.LEGACY_INIT_OP_KEY)
    if len(main_ops) > 1:
      raise RuntimeError('Expected exactly one SavedModel init op. '
                         f'Found {len(main_ops)}: {main_ops}.')
    train_ops = self._ops_named_by(constants.TRAIN_OP_SIGNATURE_KEY,
                                   constants.TRAIN_OP_KEY)
    carried = self._carried_collections()
    # A signature output that is a variable itself reads its replacement.
    values = {name: self._value_of(_node_name(name), variables[_node_name(name)])
              for name in element_names if _node_name(name) in handles}
    wanted = [name for name in element_names if name not in values]
    wanted += main_ops + train_ops
    wanted += [name for names in carried.values() for name in names]
    wanted += [table + ':0' for table in tables]
    wanted = list(dict.fromkeys(wanted))
    # Names already used in the graph are made unique by the import; every
    # element is found through the import's return values, not by name.
    returned = importer.import_graph_def(
        self._graph_def, input_map=self._used(input_map),
        return_elements=wanted, name='')
    imported.elements = dict(zip(wanted, returned))
    imported.elements.update(values)
    if main_ops:
      imported.main_op = imported.elements[main_ops[0]]
    imported.train_ops = [imported.elements[name] for name in train_ops]
    for key, names in carried.items():
      for name in names:
        self._graph.add_to_collection(key, imported.elements[name])
    for tensor in assets.values():
      self._graph.add_to_collection(_v1.GraphKeys.ASSET_FILEPATHS, tensor)
    # Checkpointed as 2.15's Saver(saver_def) kept them, under its keys.
    for table, (table_keys, dtypes) in tables.items():
      self._graph.add_to_collection(
          _v1.GraphKeys.SAVEABLE_OBJECTS,
          _TableSaveable(imported.elements[table + ':0'], table_keys, dtypes))

    self._restore_keys(imported, variables, variable_defs, keys,
                       global_step_node)
    return imported

  def _restore_keys(self, imported, variables, variable_defs, keys,
                    global_step_node):
    """Sets what the SavedModel's saver saved: key -> variable, and a Saver.

    That is the global variables under their names, unless the saver chose
    other keys; then a Saver keeps those keys in the Estimator's checkpoints
    and exports, as 2.15's `Saver(saver_def)` kept them. A part of a
    partitioned variable is restored as its slice of the whole, whatever
    its key here.
    """
    saved_globals = {name for name, (_, in_keys) in variable_defs.items()
                     if _v1.GraphKeys.GLOBAL_VARIABLES in in_keys}
    renamed, sliced = False, False
    for name, variable in variables.items():
      key = keys.get(name)
      if key is None and (keys or name not in saved_globals and
                          name != global_step_node):
        continue
      if getattr(variable, '_save_slice_info', None) is not None:
        sliced = True
        imported.restore_keys[name] = variable
      else:
        key = key or name
        renamed = renamed or key != _own_key(variable)
        imported.restore_keys[key] = variable
    if renamed:
      if sliced:
        raise NotImplementedError(
            'SavedModelEstimator cannot keep the checkpoint keys of a '
            'SavedModel whose saver renames variables and also saves '
            'partitioned ones.')
      imported.saver = _v1.train.Saver(var_list=dict(imported.restore_keys))

  def _make_variables(self, variable_defs, global_step_node):
    """(node -> variable, node -> what replaces its output) for each variable node."""
    variables = collections.OrderedDict()
    handles = {}
    for node in self._graph_def.node:
      if node.op not in _VARIABLE_OPS:
        continue
      if node.name == global_step_node:
        variables[node.name], handles[node.name] = self._global_step(node)
      else:
        variable = self._create_variable(node, variable_defs.get(node.name))
        variables[node.name] = variable
        handles[node.name] = self._in_graph(variable.handle)
    return variables, handles

  def _value_of(self, node_name, variable):
    """The value (a resource variable's: its handle) a variable node output."""
    if self._variable_nodes[node_name].op not in _REF_VARIABLE_OPS:
      return self._in_graph(variable.handle)
    return tf.identity(variable.read_value() if isinstance(
        variable, resource_variable_ops.BaseResourceVariable) else variable)

  # Variables ------------------------------------------------------------------
  def _variable_defs(self):
    """Variable node name -> (VariableDef, collection keys it was in)."""
    found = {}
    for key in _VARIABLE_COLLECTIONS:
      collection = self._meta.collection_def.get(key)
      if collection is None or collection.WhichOneof('kind') != 'bytes_list':
        continue
      for value in collection.bytes_list.value:
        variable_def = variable_pb2.VariableDef()
        variable_def.ParseFromString(value)
        name = _node_name(variable_def.variable_name)
        entry = found.setdefault(name, (variable_def, []))
        entry[1].append(key)
    return found

  def _global_step_node(self, variable_defs):
    """The MetaGraph's global step variable node, or None."""
    collection = self._meta.collection_def.get(_v1.GraphKeys.GLOBAL_STEP)
    if collection is not None:
      kind = collection.WhichOneof('kind')
      if kind == 'bytes_list' and collection.bytes_list.value:
        variable_def = variable_pb2.VariableDef()
        variable_def.ParseFromString(collection.bytes_list.value[0])
        return _node_name(variable_def.variable_name)
      if kind == 'node_list' and collection.node_list.value:
        return _node_name(collection.node_list.value[0])
    node = self._nodes.get(_v1.GraphKeys.GLOBAL_STEP)
    if node is not None and node.op in _VARIABLE_OPS and (
        _v1.GraphKeys.GLOBAL_STEP in variable_defs or not variable_defs):
      return node.name
    return None

  def _global_step(self, node):
    """(variable, what replaces the node's output) for the global step.

    The Estimator made one before calling the model_fn: the engine's (a
    resource variable) or an export graph's (a reference variable in a TF1
    program). A reference global step of the SavedModel takes the latter
    as it is; otherwise a resource global step of our own replaces it.
    """
    existing = _v1.train.get_global_step(self._graph)
    if existing is None:
      variable = self._new_global_step(node)
      return variable, self._in_graph(variable.handle)
    if isinstance(existing, resource_variable_ops.BaseResourceVariable):
      return existing, self._in_graph(existing.handle)
    if node.op in _REF_VARIABLE_OPS:
      return existing, existing._ref()  # pylint: disable=protected-access
    # A resource global step of the SavedModel in a TF1 export graph: the
    # export graph's reference one steps aside.
    for key in (_v1.GraphKeys.GLOBAL_STEP, _v1.GraphKeys.GLOBAL_VARIABLES):
      refs = self._graph.get_collection_ref(key)
      refs[:] = [v for v in refs if v is not existing]
    variable = self._new_global_step(node)
    return variable, self._in_graph(variable.handle)

  def _new_global_step(self, node):
    return _v1.Variable(
        functools.partial(tf.zeros, [], dtype=node.attr['dtype'].type),
        name=_v1.GraphKeys.GLOBAL_STEP, trainable=False,
        collections=[_v1.GraphKeys.GLOBAL_VARIABLES,
                     _v1.GraphKeys.GLOBAL_STEP],
        dtype=node.attr['dtype'].type, shape=[], use_resource=True)

  def _create_variable(self, node, variable_def_and_keys):
    """A resource variable standing for variable node `node`."""
    dtype = tf.dtypes.as_dtype(node.attr['dtype'].type)
    shape = tf.TensorShape(node.attr['shape'].shape)
    if variable_def_and_keys is None:
      variable_def, keys = None, []
    else:
      variable_def, keys = variable_def_and_keys
    trainable = _v1.GraphKeys.TRAINABLE_VARIABLES in keys or bool(
        variable_def is not None and variable_def.trainable)
    initial_value = self._initial_value(variable_def, shape, dtype)
    if not shape.is_fully_defined() and not callable(initial_value):
      raise ValueError(
          f'Variable {node.name!r} of the SavedModel has shape {shape}; '
          'SavedModelEstimator needs variables of fully defined shapes.')
    # Named as the node; an export graph that has the name already (its
    # receiver's) makes it unique, and the Saver then keeps the old key.
    variable = _v1.Variable(
        initial_value, trainable=trainable, collections=list(keys),
        name=node.name, dtype=dtype,
        shape=shape if shape.is_fully_defined() else None, use_resource=True)
    if variable_def is not None and variable_def.HasField('save_slice_info_def'):
      variable._set_save_slice_info(variables_lib.Variable.SaveSliceInfo(  # pylint: disable=protected-access
          save_slice_info_def=variable_def.save_slice_info_def))
    return variable

  def _initial_value(self, variable_def, shape, dtype):
    """The variable's initial value: its initializer's if a constant, else zeros.

    Values the SavedModel's checkpoint holds replace it; local variables
    (metrics) get theirs again from the SavedModel's main op.
    """
    if variable_def is not None and variable_def.initial_value_name:
      node = self._nodes.get(_node_name(variable_def.initial_value_name))
      if node is not None and node.op == 'Const':
        value = tensor_util.MakeNdarray(node.attr['value'].tensor)
        if tf.TensorShape(value.shape).is_compatible_with(shape):
          return functools.partial(_constant, value, dtype)
    if shape.is_fully_defined():
      return functools.partial(tf.zeros, shape, dtype=dtype)
    return None

  def _in_graph(self, tensor):
    """`tensor` as a tensor of the graph (a function graph captures it)."""
    if getattr(tensor, 'graph', None) is self._graph:
      return tensor
    return self._graph.capture(tensor)

  # Rewriting the GraphDef ---------------------------------------------------
  def _rewrite(self, handles, converted):
    """Drops the variable nodes; turns ops on reference variables into resource ops."""
    removed = set(handles)
    self._variable_nodes = {node.name: node for node in self._graph_def.node
                            if node.name in removed}
    kept = [node for node in self._graph_def.node if node.name not in removed]
    graph_def = graph_pb2.GraphDef()
    graph_def.CopyFrom(self._graph_def)
    del graph_def.node[:]
    graph_def.node.extend(kept)
    self._graph_def = graph_def
    kept = list(graph_def.node)
    self._nodes = {node.name: node for node in kept}
    for node in kept:
      _drop_colocation_with(node, removed)
      if not converted:
        continue
      refs = [i for i, name in enumerate(node.input)
              if not name.startswith('^') and _node_name(name) in converted
              and _output_index(name) == 0]
      if refs:
        self._convert(node, refs, {_node_name(node.input[i]) for i in refs})

  def _convert(self, node, ref_positions, variables):
    """Rewrites `node`, which uses reference variables at `ref_positions`."""
    args = _input_args(node)
    if args is None:
      raise NotImplementedError(
          f'SavedModelEstimator cannot import op {node.name!r}: its type '
          f'{node.op!r} is unknown to this TensorFlow.')
    ref_args = [i for i in ref_positions if i < len(args) and args[i].is_ref]
    plain = [i for i in ref_positions if i not in ref_args]
    if not ref_args:  # it only reads them: give it a read of each
      self._feed_reads(node, plain)
      return
    variable = _node_name(node.input[ref_args[0]])
    dtype = self._dtype_of(variable)
    controls = [name for name in node.input if name.startswith('^')]
    if node.op == 'Identity' or node.op == 'RefIdentity':
      _become(node, 'ReadVariableOp', [node.input[0]] + controls,
              {'dtype': dtype})
    elif node.op == 'IsVariableInitialized':
      _become(node, 'VarIsInitializedOp', [node.input[0]] + controls, {})
    elif node.op == 'CountUpTo':
      _become(node, 'ResourceCountUpTo', list(node.input),
              {'T': node.attr['T'], 'limit': node.attr['limit']})
    elif node.op in _WRITES or node.op in _SCATTERS or node.op in _APPLIES:
      self._feed_reads(node, plain)
      self._write_then_read(node, variable, dtype)
    else:
      raise NotImplementedError(
          f'SavedModelEstimator cannot import op {node.name!r} ({node.op}): '
          f'it takes reference variable {variable!r} as a reference, and '
          'no resource-variable op is known to do the same.')

  def _write_then_read(self, node, variable, dtype):
    """Replaces a writing reference op by its resource op and a read after it."""
    writer = self._graph_def.node.add()
    writer.CopyFrom(node)
    writer.name = self._unused_name(node.name + '/resource_write')
    attrs = dict(node.attr)
    writer.attr.clear()
    if node.op in _WRITES:
      writer.op = _WRITES[node.op]
      writer.attr['dtype'].CopyFrom(attrs['T'])
      if node.op == 'Assign' and 'validate_shape' in attrs and _has_attr(
          writer.op, 'validate_shape'):
        writer.attr['validate_shape'].CopyFrom(attrs['validate_shape'])
    else:
      writer.op = _SCATTERS.get(node.op) or _APPLIES[node.op]
      allowed = {a.name for a in op_def_registry.get(writer.op).attr}
      for name, value in attrs.items():
        if name == 'T' and 'dtype' in allowed and 'T' not in allowed:
          writer.attr['dtype'].CopyFrom(value)
        elif name in allowed:
          writer.attr[name].CopyFrom(value)
    self._nodes[writer.name] = writer
    _become(node, 'ReadVariableOp', [variable, '^' + writer.name],
            {'dtype': dtype})

  def _feed_reads(self, node, positions):
    """Inputs of `node` at `positions` read their (converted) variable.

    Each read waits for `node`'s control inputs, as the reference's value
    was read only when the op ran.
    """
    controls = [name for name in node.input if name.startswith('^')]
    for i in positions:
      variable = _node_name(node.input[i])
      read = self._graph_def.node.add()
      read.name = self._unused_name(f'{node.name}/read_{i}')
      read.op = 'ReadVariableOp'
      read.input.extend([variable] + controls)
      read.attr['dtype'].type = self._dtype_of(variable)
      if node.device:
        read.device = node.device
      self._nodes[read.name] = read
      node.input[i] = read.name

  def _used(self, input_map):
    """The entries of `input_map` the GraphDef refers to (the import refuses others)."""
    referenced = set()
    for node in self._graph_def.node:
      for name in node.input:
        referenced.add(name if name.startswith('^') or ':' in name
                       else name + ':0')
    return {key: value for key, value in input_map.items()
            if key in referenced or (not key.startswith('^') and
                                     _node_name(key) in self._nodes)}

  def _dtype_of(self, variable):
    return self._variable_nodes[variable].attr['dtype'].type

  def _unused_name(self, name):
    unique, n = name, 0
    while unique in self._nodes:
      n += 1
      unique = f'{name}_{n}'
    return unique

  def _share_resources(self):
    """Gives the graph's own stateful resources (tables) shared names.

    In a function graph each pruned function would otherwise make its own
    table: the one the main op fills would not be the one a lookup reads.
    A plain graph (an export) keeps the SavedModel's names.
    """
    if not getattr(self._graph, 'building_function', False):
      return
    prefix = f'saved_model_estimator_{ops.uid()}'
    for node in self._graph_def.node:
      op_def = op_def_registry.get(node.op)
      if op_def is None or not any(a.name == 'shared_name' for a in op_def.attr):
        continue
      if not node.attr['shared_name'].s:
        node.attr['shared_name'].s = f'{prefix}/{node.name}'.encode()

  # Assets, init and train ops, collections ---------------------------------
  def _asset_constants(self):
    """Asset tensor name -> constant path of its file in the SavedModel."""
    paths = loader_impl.get_asset_tensors(self._export_dir, self._meta)
    return {name: tf.constant(path, name='asset_path')
            for name, path in paths.items()}

  def _ops_named_by(self, signature_key, *collection_keys):
    """Names of the ops a SavedModel keeps under a signature or collection."""
    signature = self._meta.signature_def.get(signature_key)
    if signature is not None and signature_key in signature.outputs:
      return [_node_name(signature.outputs[signature_key].name)]
    for key in collection_keys:
      collection = self._meta.collection_def.get(key)
      if collection is not None and collection.node_list.value:
        # An op's name, or a tensor's (a train op that was a tensor).
        return list(collection.node_list.value)
    return []

  def _carried_collections(self):
    """Node-list collections the model graph keeps (summaries, tables' inits)."""
    carried = {}
    for key, collection in self._meta.collection_def.items():
      if key in _SKIPPED_COLLECTIONS or collection.WhichOneof('kind') != 'node_list':
        continue
      names = [name for name in collection.node_list.value
               if _node_name(name) in self._nodes]
      if names:
        carried[key] = names
    return carried


def _saved_sources(graph_def, nodes):
  """(key, input name) of each tensor the SavedModel's saver writes."""
  for node in graph_def.node:
    if node.op != 'SaveV2' or len(node.input) < 3:
      continue
    names_node = nodes.get(_node_name(node.input[1]))
    if names_node is None or names_node.op != 'Const':
      continue
    names = tensor_util.MakeNdarray(names_node.attr['value'].tensor)
    for name, source in zip(np.ravel(names), node.input[3:]):
      yield tf.compat.as_str(name), source


def _saver_keys(graph_def, nodes):
  """Variable node name -> the key its SavedModel's saver wrote it under."""
  keys = {}
  for name, source in _saved_sources(graph_def, nodes):
    variable = _source_variable(nodes, source)
    if variable is not None:
      keys.setdefault(variable, name)
  return keys


def _saver_tables(graph_def, nodes):
  """Table node name -> ([keys key, values key], [key dtype, value dtype]).

  A table's saveable saved its export: the keys (output 0) and the values
  (output 1) of a `LookupTableExportV2` of the table.
  """
  tables = {}
  for name, source in _saved_sources(graph_def, nodes):
    export = nodes.get(_node_name(source))
    if export is None or export.op != 'LookupTableExportV2':
      continue
    keys, dtypes = tables.setdefault(_node_name(export.input[0]), (
        [None, None], [tf.as_dtype(export.attr['Tkeys'].type),
                       tf.as_dtype(export.attr['Tvalues'].type)]))
    keys[_output_index(source)] = name
  return {table: entry for table, entry in tables.items()
          if None not in entry[0]}


class _TableSaveable(saveable_object.SaveableObject):
  """A SavedModel's table, checkpointed under its saver's two keys."""

  def __init__(self, handle, keys, dtypes):
    exported = gen_lookup_ops.lookup_table_export_v2(handle, *dtypes)
    specs = [saveable_object.SaveSpec(tensor, '', key)
             for tensor, key in zip(exported, keys)]
    super().__init__(handle, specs, keys[0])

  def restore(self, restored_tensors, restored_shapes):
    del restored_shapes
    return gen_lookup_ops.lookup_table_import_v2(self.op, *restored_tensors)


def _source_variable(nodes, name):
  """The variable node whose value input `name` reads, if it only reads one."""
  for _ in range(8):
    node = nodes.get(_node_name(name))
    if node is None:
      return None
    if node.op in _VARIABLE_OPS:
      return node.name
    if node.op not in ('Identity', 'ReadVariableOp', 'Snapshot') or not node.input:
      return None
    name = node.input[0]
  return None


def _drop_colocation_with(node, removed):
  """Removes `node`'s colocation with nodes that will not be imported."""
  if '_class' not in node.attr:
    return
  kept = [entry for entry in node.attr['_class'].list.s
          if not (entry.startswith(b'loc:@') and
                  tf.compat.as_str(entry[5:]) in removed)]
  if len(kept) == len(node.attr['_class'].list.s):
    return
  if kept:
    del node.attr['_class'].list.s[:]
    node.attr['_class'].list.s.extend(kept)
  else:
    del node.attr['_class']


def _become(node, op, inputs, attrs):
  """Turns `node` into an `op` node with `inputs` and `attrs` (same name, device)."""
  node.op = op
  del node.input[:]
  node.input.extend(inputs)
  classes = node.attr['_class'] if '_class' in node.attr else None
  node.attr.clear()
  for name, value in attrs.items():
    if isinstance(value, int):
      node.attr[name].type = value
    else:
      node.attr[name].CopyFrom(value)
  if classes is not None:
    node.attr['_class'].CopyFrom(classes)


def _has_attr(op, attr):
  op_def = op_def_registry.get(op)
  return op_def is not None and any(a.name == attr for a in op_def.attr)


def _own_key(variable):
  """The key the Estimator checkpoints `variable` under by default."""
  info = getattr(variable, '_save_slice_info', None)
  if info is not None:
    return info.full_name
  return variable.op.name if hasattr(variable, 'op') else variable.name.split(':')[0]


def _constant(value, dtype):
  return tf.constant(value, dtype=dtype)
