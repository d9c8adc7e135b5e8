"""SavedModel export in the format TensorFlow Serving reads from 2.15 exports.

The serving graph is rebuilt from the receiver and `model_fn` in a plain
`tf.Graph`, exactly as 2.15 did, and written by the v1 SavedModel builder:
TF2's own saver keeps only `tensorflow/serving/predict` signatures, while
Serving's classify and regress APIs need the method names this builder keeps.
The short-lived v1 session below only restores the checkpoint for writing.
"""

import os
import re
import shutil
import time
import uuid

import tensorflow as tf

from tfcompat_estimator.io import checkpoint_layout
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import file_errors
from tfcompat_estimator.io import safe_paths
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.platform import tf_internals

ModeKeys = model_fn_lib.ModeKeys
_v1 = tf.compat.v1
_TRAIN_OP_KEY = 'saved_model_train_op'
_MODE_ORDER = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)
# How a TF1 Saver's restore names a key the checkpoint lacks.
_MISSING_KEY = re.compile(r'Key (\S+) not found in checkpoint')


def _check_assets_extra(assets_extra):
  """Rejects destinations that would land outside `assets.extra`."""
  for dest, source in (assets_extra or {}).items():
    safe_paths.check_inside(dest, 'assets_extra destination', 'assets.extra')
    if not tf.io.gfile.exists(source):
      raise ValueError(f'assets_extra source {source!r} (for {dest!r}) does '
                       'not exist.')


def _unique_export_dir(export_dir_base):
  """A new version directory: the Unix time, yet above every existing version.

  Exports faster than one per second would otherwise take a number that an
  exporter's garbage collection just freed, and TF Serving (which serves the
  highest version) would prefer an older model.
  """
  # '' is the working directory (2.15 exported there, e.g. resnet_main.py's
  # `--export_dir=`), which gfile cannot list under that name.
  versions = [int(name.rstrip('/'))
              for name in tf.io.gfile.listdir(export_dir_base or os.curdir)
              if name.rstrip('/').isdigit()]
  stamp = max([int(time.time())] + [v + 1 for v in versions])
  return os.path.join(export_dir_base, str(stamp))


def export_all(context, meta_graphs, export_dir_base, input_receiver_fn_map,
               assets_extra=None, as_text=False, checkpoint_path=None,
               strip_default_attrs=True):
  """Writes one SavedModel with a MetaGraph per mode; returns its path (bytes).

  Args:
    context: The Estimator's `RunContext`.
    meta_graphs: mode -> the MetaGraphs exporting it writes, as a list of
      `(tags, call_model_fn)`; TPUEstimator adds a TPU one.
    export_dir_base, input_receiver_fn_map, assets_extra, as_text,
    checkpoint_path, strip_default_attrs: As in
      `Estimator.experimental_export_all_saved_models`.
  """
  for mode, receiver_fn in input_receiver_fn_map.items():
    if mode not in _MODE_ORDER:
      raise ValueError(f'Unknown mode {mode!r} in input_receiver_fn_map.')
    if receiver_fn is None:
      raise ValueError(f'input_receiver_fn for mode {mode!r} is None.')
  _check_assets_extra(assets_extra)
  checkpoint_path = checkpoint_path or _trained_model(context)
  export_dir_base = os.fspath(export_dir_base)
  with file_errors.reporting('export directory', export_dir_base):
    tf.io.gfile.makedirs(export_dir_base)
  temp_dir = os.path.join(export_dir_base, f'temp-{uuid.uuid4().hex}')
  try:
    builder = _v1.saved_model.Builder(temp_dir)
    variables_saved = False
    for mode in _MODE_ORDER:
      if mode not in input_receiver_fn_map:
        continue
      for tags, call_model_fn in meta_graphs(mode):
        _add_meta_graph(context.config, builder, temp_dir, mode, tags,
                        call_model_fn, input_receiver_fn_map[mode],
                        checkpoint_path, not variables_saved,
                        strip_default_attrs)
        variables_saved = True
    with file_errors.reporting('SavedModel', temp_dir,
                               'No partial export was left behind.'):
      builder.save(as_text)
      for dest, source in (assets_extra or {}).items():
        target = os.path.join(temp_dir, 'assets.extra', dest)
        tf.io.gfile.makedirs(os.path.dirname(target))
        tf.io.gfile.copy(source, target, overwrite=True)
      export_dir = _unique_export_dir(export_dir_base)
      tf.io.gfile.rename(temp_dir, export_dir)
  except BaseException:
    if tf.io.gfile.exists(temp_dir):
      shutil.rmtree(temp_dir, ignore_errors=True)
    raise
  # The builder logged 'SavedModel written to: <temp dir>/saved_model.pb',
  # 2.15's only line about it; the final directory is the return value.
  return tf.compat.as_bytes(export_dir)


def _trained_model(context):
  """The latest checkpoint, else (as in 2.15) the one warm starting reads."""
  path = context.latest_checkpoint()
  warm_start = context.warm_start
  if not path and warm_start is not None:
    path = warm_start.ckpt_to_initialize_from
    if tf.io.gfile.isdir(path):
      path = checkpoints.latest_checkpoint(path)
  if not path:  # 2.15's words for an export (its predict's differ)
    raise ValueError(f"Couldn't find trained model at {context.model_dir}.")
  return path


def _add_meta_graph(config, builder, export_dir, mode, tags, call_model_fn,
                    receiver_fn, checkpoint_path, with_variables,
                    strip_default_attrs):
  with tf.Graph().as_default() as graph:
    if config.tf_random_seed is not None:
      _v1.set_random_seed(config.tf_random_seed)
    receiver = receiver_fn()
    _v1.train.get_or_create_global_step()
    labels = getattr(receiver, 'labels', None)
    spec = call_model_fn(receiver.features, labels, mode, config)
    metrics = None
    if mode == ModeKeys.EVAL:
      metrics = dict(spec.eval_metric_ops)
    export_outputs = tf_internals.export_outputs_for_mode(
        mode, serving_export_outputs=spec.export_outputs,
        predictions=spec.predictions, loss=spec.loss, metrics=metrics)
    signature_def_map = tf_internals.build_all_signature_defs(
        receiver.receiver_tensors, export_outputs,
        getattr(receiver, 'receiver_tensors_alternatives', None),
        serving_only=(mode == ModeKeys.PREDICT))
    if spec.train_op is not None:
      # Where 2.15's builder recorded the train op for loaders to find it,
      # in any mode whose spec has one (TFMA's example EVAL specs do).
      _v1.add_to_collection(_TRAIN_OP_KEY, spec.train_op)
    # 2.15's: local variables, tables and local resources (a model_fn's
    # `register_resource(..., is_shared=False)`), initialized when loaded.
    main_op = (spec.scaffold.local_init_op or
               _v1.train.Scaffold.default_local_init_op())
    saver = restorer = checkpoint_layout.v1_saver(spec.scaffold.saver)
    object_keyed = checkpoint_layout.is_object_keyed(saver)
    if saver is None or object_keyed:
      # A Keras estimator's object-keyed variables are checked by the names
      # its checkpoint's object graph keeps: a serving input narrower than
      # the model's (2.15's keras_test exports one) built a kernel the
      # Saver then filled with the checkpoint's wider one.
      checkpoints.check_fits(checkpoint_path, {
          v.op.name: v for v in _v1.global_variables()})
    if saver is None:
      saver = restorer = _v1.train.Saver(sharded=True)
    elif object_keyed and not checkpoints.is_object_keyed(checkpoint_path):
      # A Keras estimator's keras/keras_model.ckpt, written by names.
      restorer = _v1.train.Saver(sharded=True)
    assets = _v1.get_collection(_v1.GraphKeys.ASSET_FILEPATHS)
    with _v1.Session(graph=graph, config=_restore_config(
        config.session_config)) as session:
      try:
        restorer.restore(session, checkpoint_path)
      except (tf.errors.OpError, ValueError) as e:
        raise _restore_failed(checkpoint_path, mode, e) from e
      kwargs = dict(signature_def_map=signature_def_map, assets_collection=assets,
                    main_op=main_op, saver=saver,
                    strip_default_attrs=strip_default_attrs)
      if with_variables:
        with file_errors.reporting('SavedModel variables under', export_dir):
          builder.add_meta_graph_and_variables(session, tags, **kwargs)
      else:
        builder.add_meta_graph(tags, **kwargs)


def _restore_failed(checkpoint_path, mode, error):
  """The error for `mode`'s graph failing to restore from `checkpoint_path`.

  A readable checkpoint without some of the graph's variables is the
  ValueError 2.15 raised (a model_fn making variables only in this mode), as
  the NotFoundError it also is; anything else is a damaged or vanished one.
  """
  if (isinstance(error, tf.errors.NotFoundError) and
      checkpoints.exists(checkpoint_path)):
    missing = sorted(set(_MISSING_KEY.findall(error.message)) -
                     {checkpoints.OBJECT_GRAPH_KEY})
    return checkpoints.CheckpointMissingError(
        'Could not load all requested variables from checkpoint. Please make '
        'sure your model_fn does not expect variables that were not saved in '
        f'the checkpoint.\n\nEncountered error with mode `{mode}` while '
        f'restoring checkpoint from: `{checkpoint_path}`: it lacks '
        f'{missing or file_errors.describe(error)}.')
  return checkpoints.read_failed(checkpoint_path, error, 'export from')


def _restore_config(session_config):
  """`session_config`, placing only the ops the restore runs.

  A TPU serving graph holds ops with no CPU kernel (`TPUOrdinalSelector`);
  placing the whole graph, a session's default, would fail on them.
  """
  config = _v1.ConfigProto()
  if session_config is not None:
    config.CopyFrom(session_config)
  config.graph_options.place_pruned_graph = True
  return config
