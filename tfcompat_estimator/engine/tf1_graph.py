"""The captured model graph as a TF1 `tf.Graph`, for the files TF1 tools read.

2.15 trained and evaluated in a `tf.Graph` and wrote it out: `graph.pbtxt`
beside the checkpoints (read by scripts and by TensorBoard's Graphs tab),
`model.ckpt-N.meta` with each checkpoint (what
`tf.compat.v1.train.import_meta_graph` + `Saver.restore` load), and graph
and meta-graph events in the train and eval event files.

Our model graph is a function graph whose variables live outside it as TF2
resources, fed to it as captured handles. `meta_graph_def` turns it into
such a `tf.Graph` without calling the model_fn again (2.15 called it once
per train(); programs count on that): a resource variable per checkpoint
key, with its TF1 name and collections, the captured graph's nodes with
each variable placeholder's uses pointed at that variable's handle, and a
`Saver` whose names are the checkpoint's. It is built from the graph alone,
so one is made per captured graph and kept (`CapturedModel.cached`).
"""

import tensorflow as tf

from tfcompat_estimator.engine import batch_checks
from tfcompat_estimator.engine import distribution
from tfcompat_estimator.engine import iterator_names
from tfcompat_estimator.platform import tf_internals

_v1 = tf.compat.v1


def meta_graph_def(captured, config, saver_def=None):
  """A TF1 `MetaGraphDef` of `captured`'s graph, its variables and a Saver.

  The variables and the Saver are made in a small `tf.Graph`; the model's
  nodes join them as protos, each captured variable placeholder's uses
  pointed at that variable's handle. The model graph is never imported into
  a `tf.Graph` of its own: that import, one Python object per op, was half
  of this function's time (0.1-0.2 s of a canned model's first train()) and
  left about 11 MB of peak memory behind (wide & deep, measured).

  Args:
    captured: a `graph_capture.CapturedModel`.
    config: the `RunConfig`, whose checkpoint retention the Saver keeps, as
      2.15's did: a program that restores with `import_meta_graph` and
      saves with that Saver keeps as many checkpoints as training did.
    saver_def: the `SaverDef` of a program's own `tf.compat.v1.train.Saver`
      made in the model graph, whose .meta files name it; no Saver is made
      then.

  Returns:
    `(graph_def, meta_graph_def)`: the `GraphDef` (with shapes, as 2.15
    wrote graph.pbtxt) and the `MetaGraphDef` with a sharded Saver's
    `saver_def`, as 2.15's `.meta` files held.
  """
  source = captured.graph.as_graph_def(add_shapes=True)
  captured.random_streams.as_tf1(source)
  iterator_names.as_tf1_iterator(source)
  batch_checks.strip_edges(source)
  _strip_step_gates(source, captured.step_gates)
  graph = tf.Graph()
  with graph.as_default():
    handles = {}
    variables = _tf1_variables(captured.global_variables, handles, local=False)
    _tf1_variables(captured.local_variables, handles, local=True)
    global_step = handles.get(id(captured.global_step.handle))
    if global_step is not None:
      _v1.add_to_collection(_v1.GraphKeys.GLOBAL_STEP, global_step[1])
    # The variables' ops: the model's nodes and the Saver's come after them.
    variable_ops = {op.name for op in graph.get_operations()}
    renames = _rename_taken(source, variable_ops)
    _point_at_handles(source, captured.graph.captures, handles, renames)
    named = _copy_collections(captured.graph, renames, handles)
    if saver_def is None:
      saver_def = _v1.train.Saver(
          variables, sharded=True, save_relative_paths=True,
          max_to_keep=config.keep_checkpoint_max,
          keep_checkpoint_every_n_hours=config.keep_checkpoint_every_n_hours,
          name=_free_scope('save', source, variable_ops)).saver_def
    else:
      saver_def = _renamed_saver_def(saver_def, renames)
    own = graph.as_graph_def(add_shapes=True)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.versions.CopyFrom(own.versions)
    # 2.15's order, which import_graph_def kept: variables, model, Saver.
    graph_def.node.extend(own.node[:len(variable_ops)])
    graph_def.node.extend(source.node)
    graph_def.node.extend(own.node[len(variable_ops):])
    graph_def.library.CopyFrom(source.library)
    meta = _v1.train.export_meta_graph(
        graph=graph, graph_def=_without_devices(graph_def),
        saver_def=saver_def)
  for key, names in named.items():
    meta.collection_def[key].node_list.value.extend(names)
  return graph_def, meta


def _strip_step_gates(source, step_gates):
  """Drops the edges by which the engine orders global step writes after
  its reads (`CapturedModel.gate_global_step_writes`).

  In a TF1 session they made a program's own Saver fail to restore its
  .meta: the restore's assignment of the global step waited for a read of
  the variable it was about to initialize (Mesh TensorFlow's Saver).
  """
  for node in source.node:
    gates = step_gates.get(node.name)
    if gates:
      kept = [name for name in node.input if name[1:] not in gates]
      del node.input[:]
      node.input.extend(kept)


def _point_at_handles(source, captures, handles, renames):
  """Points uses of `source`'s variable placeholders at the variables' handles.

  What `import_graph_def(input_map=...)` did: data inputs move, control
  inputs and the (now unused) placeholders stay. Colocation attributes go:
  they may name a node that is now a variable of ours (a graph-made
  variable's own handle op, e.g. TF-Hub's).
  """
  targets = {}
  for external, internal in captures:
    if id(external) in handles:
      handle = handles[id(external)][0]
      targets[_renamed(internal.op.name, renames)] = (
          handle.op.name if handle.value_index == 0 else handle.name)
  for node in source.node:
    node.attr.pop('_class', None)
    for i, name in enumerate(node.input):
      op_name, _, index = name.partition(':')
      if op_name in targets and index in ('', '0'):
        node.input[i] = targets[op_name]


def _free_scope(name, source, variable_ops):
  """`name` or `name_N`: no node of `source` or `variable_ops` or its scope.

  The Saver's ops go under it; before, the Saver was made after the model's
  ops, and TF's own naming kept it clear of them.
  """
  taken = {node.name.lower() for node in source.node}
  taken.update(op_name.lower() for op_name in variable_ops)
  scopes = {n.split('/')[0] for n in taken}
  candidate, n = name, 0
  while candidate in taken or candidate in scopes:
    n += 1
    candidate = f'{name}_{n}'
  return candidate


# Filled by `meta_graph_def` itself, from the captured variables. The
# `train_op` collection is copied as the model_fn left it: a v1 optimizer
# adds its apply op there, and 2.15 added nothing of its own (BERT's
# hand-grouped train op left it empty).
_MADE_ANEW = frozenset((
    _v1.GraphKeys.GLOBAL_VARIABLES, _v1.GraphKeys.TRAINABLE_VARIABLES,
    _v1.GraphKeys.LOCAL_VARIABLES, _v1.GraphKeys.GLOBAL_STEP))


def _copy_collections(source, renames, handles):
  """The collections of `source` that its `.meta` keeps.

  2.15's `.meta` files kept the model graph's collections (losses,
  update_ops, summaries, model_variables, table_initializer, ...), and
  programs that `import_meta_graph` a checkpoint read them (the Object
  Detection API's exporters). A collection of lifted variables only is
  rebuilt in the default graph from their TF1 stand-ins, for TF to
  serialize as it serializes variables. A collection with ops or tensors
  (and `get_variable`'s lazily made regularization losses) is returned as
  `{key: [names]}` to be written as the node list TF writes for them.
  Other kinds of members (Python objects, the engine's own bookkeeping) are
  left out.

  Returns:
    `{key: [names]}` of the collections that name model ops or tensors.
  """
  named = {}
  for key in source.get_all_collection_keys():
    if not isinstance(key, str) or key in _MADE_ANEW:
      continue
    members = []
    for item in source.get_collection(key):
      if id(getattr(item, 'handle', None)) in handles:
        members.append(handles[id(item.handle)][1])
      elif getattr(item, 'graph', None) is source:
        members.append(_renamed(item.name, renames))
    if any(isinstance(member, str) for member in members):
      named[key] = [m if isinstance(m, str) else m.name for m in members]
    else:
      for member in members:
        _v1.add_to_collection(key, member)
  return named


def _without_devices(graph_def):
  """`graph_def` with its nodes' devices cleared, as .meta files hold it.

  What `export_meta_graph(clear_devices=True)` writes, made from the
  GraphDef already at hand: given none, that function serializes every
  node again in Python to clear its device, 0.03-0.1 s of a process's
  first train() (measured on canned DNN and wide & deep models).
  """
  if not any(node.device for node in graph_def.node):
    return graph_def
  cleared = tf.compat.v1.GraphDef()
  cleared.CopyFrom(graph_def)
  for node in cleared.node:
    node.device = ''
  return cleared


def event_graphs(captured):
  """`(GraphDef, MetaGraphDef)` of the captured graph as it is, for events.

  For the eval event file, which only TensorBoard reads: the function
  graph's own GraphDef (variables appear as its resource inputs) costs a
  fraction of `meta_graph_def`'s TF1 graph, which the first evaluate() of
  a process would otherwise pay (0.65 -> 0.90 s for a canned DNN, paired
  runs).
  """
  graph_def = captured.graph.as_graph_def(add_shapes=True)
  meta_graph = tf.compat.v1.MetaGraphDef()
  meta_graph.graph_def.CopyFrom(graph_def)
  meta_graph.meta_info_def.tensorflow_version = tf.__version__
  return graph_def, meta_graph


def _tf1_variables(lifted, handles, local):
  """Resource variables named by `lifted`'s keys, standing for its variables.

  Records `id(handle of each component) -> (new handle, new variable)` in
  `handles`. Partition parts keep their slice info, so the Saver writes them
  under the full variable's name as 2.15 did. Returns the new variables.
  """
  specs = [(key, variable, distribution.components(variable))
           for key, variable in lifted.items()]
  templated = _from_templates([(key, parts[0]) for key, _, parts in specs
                               if parts[0].shape.is_fully_defined()])
  made = []
  for key, variable, components in specs:
    part = components[0]
    collections = ([_v1.GraphKeys.LOCAL_VARIABLES] if local else
                   [_v1.GraphKeys.GLOBAL_VARIABLES] +
                   ([_v1.GraphKeys.TRAINABLE_VARIABLES] if variable.trainable
                    else []))
    if key in templated:
      created = templated[key]
      _v1.add_to_collections(collections, created)
    else:
      created = _made_alone(key, part, collections)
    info = tf_internals.save_slice_info(part)
    if info is not None:
      tf_internals.set_save_slice_info(created, info)
    for component in components:
      handles[id(component.handle)] = (created.handle, created)
    made.append(created)
  return made


def _made_alone(key, part, collections):
  """A variable made op by op (shapes not fully defined, or names clashing)."""
  dtype = part.dtype.base_dtype
  if part.shape.is_fully_defined():
    return _v1.get_variable(
        key, shape=part.shape, dtype=dtype,
        initializer=_v1.zeros_initializer(), trainable=False,
        collections=collections, use_resource=True)
  # Made with validate_shape=False (k-means' centers): no fixed shape.
  empty = ([0] if part.shape.rank is None else
           [d or 0 for d in part.shape.as_list()])
  return _v1.Variable(
      tf.zeros(empty, dtype), name=key, shape=part.shape,
      validate_shape=False, trainable=False, collections=collections,
      use_resource=True)


_TEMPLATE = 'tfcompat_template'


def _from_templates(parts):
  """`{key: variable}` for `(key, part)` pairs, their ops imported at once.

  Making a variable op by op costs about 4 ms (its handle, initializer,
  assign and read ops, each through TF's Python op construction): 11 s of
  the 26 s this module took for DeepCTR's FiBiNET (1,501 variables, under
  cProfile). Here one variable per dtype is made that way, in a scratch
  graph; every variable's ops are copies of its ops, renamed and reshaped,
  imported in one `import_graph_def`; a variable object is then made from
  each one's `VariableDef`, as `import_meta_graph` does. Keys whose ops'
  names would clash (a key named like another's ops) are left out, to be
  made one by one.
  """
  templates, graph_def, names, imported = {}, tf.compat.v1.GraphDef(), set(), []
  for key, part in parts:
    dtype = part.dtype.base_dtype
    if dtype not in templates:
      templates[dtype] = _template(dtype)
    nodes = [_renamed_node(node, key, part.shape)
             for node in templates[dtype][0]]
    if any(node.name in names for node in nodes):
      continue
    names.update(node.name for node in nodes)
    graph_def.node.extend(nodes)
    imported.append((key, templates[dtype][1]))
  tf.graph_util.import_graph_def(graph_def, name='')
  made = {}
  for key, template_def in imported:
    variable_def = type(template_def)()
    variable_def.CopyFrom(template_def)
    for field in ('variable_name', 'initializer_name', 'snapshot_name',
                  'initial_value_name'):
      setattr(variable_def, field, _with_key(getattr(variable_def, field), key))
    made[key] = tf_internals.resource_variable_from_proto(variable_def)
  return made


def _template(dtype):
  """`(NodeDefs, VariableDef)` of a zero-initialized resource variable."""
  with tf.Graph().as_default() as graph:
    variable = _v1.get_variable(
        _TEMPLATE, shape=[1], dtype=dtype,
        initializer=_v1.zeros_initializer(), trainable=False,
        collections=[], use_resource=True)
    return list(graph.as_graph_def().node), variable.to_proto()


def _renamed_node(template, key, shape):
  node = tf.compat.v1.NodeDef()
  node.CopyFrom(template)
  node.name = _with_key(node.name, key)
  node.input[:] = [_with_key(name, key) for name in node.input]
  attrs = node.attr
  if '_class' in attrs:
    attrs['_class'].list.s[:] = [
        b'loc:@' + _with_key(s[len(b'loc:@'):].decode(), key).encode()
        for s in attrs['_class'].list.s]
  for name in ('shared_name', 'debug_name'):
    if name in attrs:
      attrs[name].s = _with_key(attrs[name].s.decode(), key).encode()
  if 'shape' in attrs:
    attrs['shape'].shape.CopyFrom(shape.as_proto())
  if node.op == 'Const':  # zeros: one value, repeated over the shape
    attrs['value'].tensor.tensor_shape.CopyFrom(shape.as_proto())
  return node


def _with_key(name, key):
  """`name` of the template's ops, with the template's name made `key`."""
  if name == _TEMPLATE or name.startswith((_TEMPLATE + '/', _TEMPLATE + ':')):
    return key + name[len(_TEMPLATE):]
  return name


def _renamed(tensor_name, renames):
  op_name, sep, index = tensor_name.lstrip('^').partition(':')
  prefix = '^' if tensor_name.startswith('^') else ''
  return prefix + renames.get(op_name, op_name) + sep + index


def _renamed_saver_def(saver_def, renames):
  renamed = _v1.train.SaverDef()
  renamed.CopyFrom(saver_def)
  for field in ('filename_tensor_name', 'save_tensor_name', 'restore_op_name'):
    setattr(renamed, field, _renamed(getattr(saver_def, field), renames))
  return renamed


def _rename_taken(graph_def, taken):
  """Renames nodes of `graph_def` whose names `taken` holds, and their uses.

  The captured graph may have an op named like a variable (our
  'global_step' read is an identity of that name). Returns {old: new}.
  """
  renames = {}
  names = {node.name for node in graph_def.node} | taken
  for node in graph_def.node:
    if node.name in taken:
      n = 1
      while f'{node.name}_{n}' in names:
        n += 1
      renames[node.name] = f'{node.name}_{n}'
      names.add(renames[node.name])
      node.name = renames[node.name]
  if renames:
    for node in graph_def.node:
      for i, name in enumerate(node.input):
        node.input[i] = _renamed(name, renames)
  return renames
