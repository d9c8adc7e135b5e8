"""A mutable dense hash table split into shards by key: SDCA's example state.

`_ShardedMutableDenseHashTable` keeps `num_shards` of TensorFlow's own
`MutableDenseHashTableV2` resources; a key goes to shard `|k| mod num_shards`,
where `k` is the key itself or, for vector keys, its first component.

Where the table is created decides how it lives and is checkpointed:

  * In a TF1 graph (run by a `Session`): each shard is a resource of that
    graph, checkpointed by a `tf.compat.v1.train.Saver` through the
    SAVEABLE_OBJECTS collection as `<shard>-keys` and `<shard>-values`
    (`<shard>` is e.g. `ShardedMutableHashTable-1-of-1`), as in 2.15.
  * Eagerly: each shard is an eager resource, freed with the table object.
  * While a function graph is being built from eager code, which is how the
    Estimator captures a `model_fn`: each shard is lifted out as an eager
    resource, like that graph's variables, so its contents outlive a call of
    the graph. Checkpoints there hold variables only, so each shard gets two
    non-trainable variables with the same checkpoint keys, `<shard>-keys` and
    `<shard>-values`, holding its exported buckets (the layout 2.15 saved and
    restores by import). `sync_to_variables()` copies the shards into them and
    `load_from_variables()` loads them into the shards once after every
    variable initialization or restore (a local flag, reset then, says whether
    that happened). A trainer runs the first before its step's lookups and the
    second after its inserts, so every checkpoint holds the table as of the
    step it saves.
"""

import contextlib

import tensorflow as tf
from tensorflow.python.framework import ops
from tensorflow.python.ops import gen_lookup_ops
from tensorflow.python.ops import resource_variable_ops
from tensorflow.python.training.saving import saveable_object

_v1 = tf.compat.v1
# Where a function graph keeps the lifted tables it uses alive.
_GRAPH_TABLES_ATTR = '_tfcompat_lifted_hash_tables'


def _lifting_from_function_graph():
  """Whether ops built now land in a function graph traced from eager code."""
  return (not tf.executing_eagerly() and
          getattr(ops.get_default_graph(), 'building_function', False) and
          ops.executing_eagerly_outside_functions())


class _TableShardSaveable(saveable_object.SaveableObject):
  """Saves a graph-mode shard as `<name>-keys` / `<name>-values`."""

  def __init__(self, shard, name):
    keys, values = shard.export()
    super().__init__(shard, [
        saveable_object.SaveSpec(keys, '', name + '-keys'),
        saveable_object.SaveSpec(values, '', name + '-values'),
    ], name)

  def restore(self, restored_tensors, restored_shapes):
    del restored_shapes  # the buckets come with their own count
    keys, values = restored_tensors
    with ops.colocate_with(self.op.resource_handle):
      return gen_lookup_ops.lookup_table_import_v2(
          self.op.resource_handle, keys, values)


class _DenseTableShard:
  """One `MutableDenseHashTableV2` resource (see the module docstring)."""

  def __init__(self, key_dtype, value_dtype, default_value, empty_key,
               deleted_key, name, checkpoint=True):
    self._key_dtype = key_dtype
    self._value_dtype = value_dtype
    self._default_value = ops.convert_to_tensor(
        default_value, dtype=value_dtype, name='default_value')
    self._value_shape = self._default_value.shape
    self._checkpoint_name = name
    self._lifted = _lifting_from_function_graph()
    self._loaded = self._keys_variable = self._values_variable = None
    with tf.init_scope() if self._lifted else contextlib.nullcontext():
      empty_key = ops.convert_to_tensor(empty_key, dtype=key_dtype,
                                        name='empty_key')
      deleted_key = ops.convert_to_tensor(deleted_key, dtype=key_dtype,
                                          name='deleted_key')
      self._key_shape = empty_key.shape
      eager = tf.executing_eagerly()
      self.name = name  # names the shard's ops; a graph's op name below
      self.resource_handle = gen_lookup_ops.mutable_dense_hash_table_v2(
          empty_key=empty_key, deleted_key=deleted_key,
          # An eager kernel is cached by its attributes: a name of its own
          # keeps two tables apart. A graph shares a checkpointed table by
          # its node name, as TF1 did.
          shared_name=f'{name}_{ops.uid()}' if eager else '',
          use_node_name_sharing=checkpoint and not eager,
          value_dtype=value_dtype, value_shape=self._value_shape, name=name)
      if eager:
        self._deleter = resource_variable_ops.EagerResourceDeleter(
            self.resource_handle, self.resource_handle.device)
        initial_buckets = self.export() if self._lifted and checkpoint else None
    if not eager:
      self.name = self.resource_handle.op.name.split('/')[-1]
    if self._lifted:
      graph = ops.get_default_graph()
      kept = getattr(graph, _GRAPH_TABLES_ATTR, None)
      if kept is None:
        kept = []
        setattr(graph, _GRAPH_TABLES_ATTR, kept)
      kept.append(self)  # the graph's functions capture our handle
      if checkpoint:
        self._make_checkpoint_variables(*initial_buckets)
    elif checkpoint and not eager:
      _v1.add_to_collection(_v1.GraphKeys.SAVEABLE_OBJECTS,
                            _TableShardSaveable(self, name))

  def _make_checkpoint_variables(self, keys, values):
    """The variables that stand for this shard in checkpoints (see above)."""
    name = self._checkpoint_name
    # Absolute names: 2.15's keys carry no name scope.
    self._keys_variable = _v1.Variable(
        keys, trainable=False, name=name + '-keys/',
        shape=tf.TensorShape([None]).concatenate(self._key_shape))
    self._values_variable = _v1.Variable(
        values, trainable=False, name=name + '-values/',
        shape=tf.TensorShape([None]).concatenate(self._value_shape))
    self._loaded = _v1.Variable(
        False, trainable=False, name=name + '-loaded/',
        collections=[_v1.GraphKeys.LOCAL_VARIABLES])

  @property
  def checkpoint_variables(self):
    """`(keys, values)` variables of a lifted shard, else None."""
    if self._keys_variable is None:
      return None
    return self._keys_variable, self._values_variable

  def size(self, name=None):
    with ops.name_scope(name, f'{self.name}_Size'):
      return gen_lookup_ops.lookup_table_size_v2(self.resource_handle)

  def lookup(self, keys, name=None):
    with ops.name_scope(name, f'{self.name}_lookup_table_find'):
      keys = ops.convert_to_tensor(keys, dtype=self._key_dtype, name='keys')
      return gen_lookup_ops.lookup_table_find_v2(
          self.resource_handle, keys, self._default_value)

  def insert(self, keys, values, name=None):
    with ops.name_scope(name, f'{self.name}_lookup_table_insert'):
      keys = ops.convert_to_tensor(keys, dtype=self._key_dtype, name='keys')
      values = ops.convert_to_tensor(values, dtype=self._value_dtype,
                                     name='values')
      return gen_lookup_ops.lookup_table_insert_v2(
          self.resource_handle, keys, values)

  def export(self, name=None):
    """`(keys, values)`: every bucket, the empty ones holding the empty key."""
    with ops.name_scope(name, f'{self.name}_lookup_table_export_values'):
      return gen_lookup_ops.lookup_table_export_v2(
          self.resource_handle, self._key_dtype, self._value_dtype)

  def load_from_variables(self):
    """Loads the checkpoint variables into the shard unless already done."""
    if self._loaded is None:
      return None

    def load():
      # The import's shape function takes bucket arrays for keys of a single
      # key's rank; buckets of unknown shape (as a restore's) pass it.
      buckets = [_v1.placeholder_with_default(v.read_value(), shape=None)
                 for v in (self._keys_variable, self._values_variable)]
      imported = gen_lookup_ops.lookup_table_import_v2(
          self.resource_handle, *buckets)
      with tf.control_dependencies([imported]):
        mark = self._loaded.assign(True, read_value=False)
      with tf.control_dependencies([mark]):
        return tf.constant(True)

    return tf.cond(self._loaded.read_value(), lambda: tf.constant(True),
                   load).op

  def sync_to_variables(self):
    """Copies the shard's buckets into its checkpoint variables."""
    if self._keys_variable is None:
      return None
    keys, values = self.export()
    return tf.group(self._keys_variable.assign(keys, read_value=False),
                    self._values_variable.assign(values, read_value=False))


class _ShardedMutableDenseHashTable:
  """Mutable dense hash tables, one per shard, used as one table.

  The interface of a lookup table (`lookup`, `insert`, `size`), with
  `export_sharded` in place of `export`.
  """

  def __init__(self, key_dtype, value_dtype, default_value, empty_key,
               deleted_key, num_shards=1, checkpoint=True,
               name='ShardedMutableHashTable'):
    self._key_dtype = key_dtype
    self._value_dtype = value_dtype
    with ops.name_scope(name, 'sharded_mutable_hash_table') as scope:
      self._table_name = scope
      self._table_shards = [
          _DenseTableShard(key_dtype, value_dtype, default_value, empty_key,
                           deleted_key, f'{name}-{i + 1}-of-{num_shards}',
                           checkpoint=checkpoint)
          for i in range(num_shards)]
    self._value_shape = self._table_shards[0]._value_shape  # pylint: disable=protected-access

  @property
  def name(self):
    return self._table_name

  @property
  def _num_shards(self):
    return len(self._table_shards)

  @property
  def table_shards(self):
    return self._table_shards

  def size(self, name=None):
    with ops.name_scope(name, 'sharded_mutable_hash_table_size'):
      return tf.math.add_n([shard.size() for shard in self._table_shards])

  def _shard_indices(self, keys):
    if keys.shape.ndims > 1:  # a key is a vector: its first component decides
      keys = tf.reshape(keys[:, :1], [-1])
    return tf.cast(tf.math.floormod(tf.math.abs(keys), self._num_shards),
                   tf.int32)

  def _check_keys(self, keys):
    if keys.shape.ndims not in (1, 2):
      raise ValueError(
          f'Expected a vector or matrix for keys, got {keys.shape}.')

  def lookup(self, keys, name=None):
    """The values of `keys` (the default value for missing ones)."""
    if keys.dtype.base_dtype != self._key_dtype:
      raise TypeError(f'Signature mismatch. Keys must be dtype '
                      f'{self._key_dtype}, got {keys.dtype}.')
    self._check_keys(keys)
    if self._num_shards == 1:
      return self._table_shards[0].lookup(keys, name=name)
    shards = self._shard_indices(keys)
    key_parts = tf.dynamic_partition(keys, shards, self._num_shards)
    value_parts = [shard.lookup(part, name=name)
                   for shard, part in zip(self._table_shards, key_parts)]
    positions = tf.dynamic_partition(tf.range(tf.shape(keys)[0]), shards,
                                     self._num_shards)
    values = tf.dynamic_stitch(positions, value_parts)
    values.set_shape(keys.shape[:1].concatenate(self._value_shape))
    return values

  def insert(self, keys, values, name=None):
    """Sets the values of `keys`; returns the op."""
    self._check_keys(keys)
    if self._num_shards == 1:
      return self._table_shards[0].insert(keys, values, name=name)
    shards = self._shard_indices(keys)
    key_parts = tf.dynamic_partition(keys, shards, self._num_shards)
    value_parts = tf.dynamic_partition(values, shards, self._num_shards)
    return tf.group(*[
        shard.insert(k, v, name=name)
        for shard, k, v in zip(self._table_shards, key_parts, value_parts)])

  def export_sharded(self, name=None):
    """`([keys of each shard], [values of each shard])`, every bucket."""
    exported = [shard.export(name=name) for shard in self._table_shards]
    return [k for k, _ in exported], [v for _, v in exported]

  def load_from_variables(self):
    """See the module docstring; None unless the table is lifted."""
    ops_ = [op for op in (s.load_from_variables() for s in self._table_shards)
            if op is not None]
    return tf.group(*ops_) if ops_ else None

  def sync_to_variables(self):
    """See the module docstring; None unless the table is lifted."""
    ops_ = [op for op in (s.sync_to_variables() for s in self._table_shards)
            if op is not None]
    return tf.group(*ops_) if ops_ else None
