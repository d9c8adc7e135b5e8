"""Input receivers: what a serving (or train/eval) input function returns.

A receiver pairs the tensors a model consumes (`features`, maybe `labels`)
with the input nodes an exported SavedModel is fed through
(`receiver_tensors`). Receiver functions are called while a graph is being
built, so the `build_*` helpers create v1 placeholders; calling them eagerly
fails just as it did with the original API.
"""

import collections

import tensorflow as tf
from tensorflow.python.saved_model.model_utils import export_utils
# 2.15's export.export module re-exported these; programs import them from it.
from tensorflow.python.saved_model.model_utils.export_utils import build_all_signature_defs  # pylint: disable=unused-import
from tensorflow.python.saved_model.model_utils.export_utils import get_temp_export_dir  # pylint: disable=unused-import
from tensorflow.python.saved_model.model_utils.export_utils import get_timestamped_export_dir  # pylint: disable=unused-import

from tfcompat_estimator import util

# Dict keys used when a single tensor is passed instead of a dict.
_SINGLE_TENSOR_KEYS = {
    'feature': export_utils.SINGLE_FEATURE_DEFAULT_NAME,  # 'feature'
    'label': export_utils.SINGLE_LABEL_DEFAULT_NAME,  # 'label'
    'receiver_tensor': export_utils.SINGLE_RECEIVER_DEFAULT_NAME,  # 'input'
    'receiver_tensors_alternative': export_utils.SINGLE_RECEIVER_DEFAULT_NAME,
}

_TENSOR_TYPES = (tf.Tensor, tf.SparseTensor, tf.RaggedTensor)


def _check_tensor(tensor, field, key=None):
  """ValueError unless `tensor` is a (Sparse/Ragged) Tensor.

  As in 2.15, an object with a `.tensor` that converts to a Tensor (a
  LabeledTensor) is accepted too.
  """
  if isinstance(tensor, _TENSOR_TYPES):
    return
  if hasattr(tensor, 'tensor'):
    try:
      tf.convert_to_tensor(tensor)
      return
    except (TypeError, ValueError):
      pass
  where = field if key is None else f'{field} {key}'
  raise ValueError(f'{where} must be a Tensor, SparseTensor, or RaggedTensor; '
                   f'got {type(tensor).__name__}.')


def _check_key(key, field, allow_int_keys):
  if isinstance(key, str):
    return
  if not allow_int_keys:
    raise ValueError('{} keys must be strings: {!r}.'.format(field, key))
  if not isinstance(key, int) or isinstance(key, bool):
    raise ValueError('{} keys must be strings or ints: {!r}.'.format(
        field, key))


def wrap_and_check_input_tensors(tensors, field_name, allow_int_keys=False):
  """Validates `tensors`, wrapping a lone tensor into a one-entry dict.

  Args:
    tensors: a tensor, or a dict of key to tensor.
    field_name: 'feature', 'label', 'receiver_tensor' or
      'receiver_tensors_alternative'; picks the key for a lone tensor and
      names the field in error messages.
    allow_int_keys: whether int keys are accepted besides strings.

  Returns:
    `tensors` itself if it is a dict, else `{default_key: tensors}`.

  Raises:
    ValueError: `tensors` is None, or a key or value has the wrong type.
  """
  if tensors is None:
    raise ValueError('{}s must be defined.'.format(field_name))
  if not isinstance(tensors, dict):
    tensors = {_SINGLE_TENSOR_KEYS[field_name]: tensors}
  for key, tensor in tensors.items():
    _check_key(key, field_name, allow_int_keys)
    _check_tensor(tensor, field_name, key)
  return tensors


class ServingInputReceiver(
    collections.namedtuple(
        'ServingInputReceiver',
        ['features', 'receiver_tensors', 'receiver_tensors_alternatives'])):
  """Returned by a `serving_input_receiver_fn`.

  Fields:
    features: dict of str or int key to Tensor/SparseTensor/RaggedTensor fed
      to the model. A lone tensor is stored as `{'feature': tensor}`, so the
      model must accept a dict; use `TensorServingInputReceiver` otherwise.
    receiver_tensors: dict of str key to tensor: the inputs the exported
      signature is fed through (typically one serialized-Example placeholder).
      A lone tensor is stored as `{'input': tensor}`.
    receiver_tensors_alternatives: None, or a dict of name to extra groups of
      receiver tensors (each wrapped like `receiver_tensors`); each group
      becomes an additional serving signature.

  Raises:
    ValueError: `features` or `receiver_tensors` is None, a value is not a
      Tensor, SparseTensor or RaggedTensor, a key has the wrong type (only
      `features` may have int keys), or `receiver_tensors_alternatives` is
      not a dict.
  """

  def __new__(cls,
              features,
              receiver_tensors,
              receiver_tensors_alternatives=None):
    features = wrap_and_check_input_tensors(
        features, 'feature', allow_int_keys=True)
    receiver_tensors = wrap_and_check_input_tensors(receiver_tensors,
                                                    'receiver_tensor')
    if receiver_tensors_alternatives is not None:
      if not isinstance(receiver_tensors_alternatives, dict):
        raise ValueError(
            'receiver_tensors_alternatives must be a dict: {}.'.format(
                receiver_tensors_alternatives))
      receiver_tensors_alternatives = {
          name: wrap_and_check_input_tensors(group,
                                             'receiver_tensors_alternative')
          for name, group in receiver_tensors_alternatives.items()
      }
    return super().__new__(
        cls,
        features=features,
        receiver_tensors=receiver_tensors,
        receiver_tensors_alternatives=receiver_tensors_alternatives)


class TensorServingInputReceiver(
    collections.namedtuple(
        'TensorServingInputReceiver',
        ['features', 'receiver_tensors', 'receiver_tensors_alternatives'])):
  """Like `ServingInputReceiver`, for models that take one bare tensor.

  `features` must be a single Tensor/SparseTensor/RaggedTensor and is kept
  as is; the receiver tensors are still wrapped into dicts because every
  SavedModel input needs a name.

  Raises:
    ValueError: `features` is None or not a single tensor, or the receiver
      tensors are invalid (as in `ServingInputReceiver`).
  """

  def __new__(cls,
              features,
              receiver_tensors,
              receiver_tensors_alternatives=None):
    if features is None:
      raise ValueError('features must be defined.')
    _check_tensor(features, 'feature')
    receiver = ServingInputReceiver(features, receiver_tensors,
                                    receiver_tensors_alternatives)
    return super().__new__(
        cls,
        features=features,
        receiver_tensors=receiver.receiver_tensors,
        receiver_tensors_alternatives=receiver.receiver_tensors_alternatives)


class UnsupervisedInputReceiver(ServingInputReceiver):
  """A train/eval receiver without labels (no receiver alternatives).

  Takes `features` and `receiver_tensors`, validated and wrapped as in
  `ServingInputReceiver` (whose ValueErrors it raises).
  """

  def __new__(cls, features, receiver_tensors):
    return super().__new__(cls, features, receiver_tensors, None)


class SupervisedInputReceiver(
    collections.namedtuple('SupervisedInputReceiver',
                           ['features', 'labels', 'receiver_tensors'])):
  """A train/eval receiver carrying labels as well as features.

  `features` and `labels` are validated but kept in the form given (tensor or
  dict); only `receiver_tensors` is wrapped into a dict.

  Raises:
    ValueError: `features`, `labels` or `receiver_tensors` is None, holds a
      value that is not a tensor, or has keys of the wrong type.
  """

  def __new__(cls, features, labels, receiver_tensors):
    wrap_and_check_input_tensors(features, 'feature', allow_int_keys=True)
    wrap_and_check_input_tensors(labels, 'label', allow_int_keys=True)
    receiver_tensors = wrap_and_check_input_tensors(receiver_tensors,
                                                    'receiver_tensor')
    return super().__new__(
        cls, features=features, labels=labels,
        receiver_tensors=receiver_tensors)


def build_parsing_serving_input_receiver_fn(feature_spec,
                                            default_batch_size=None):
  """Returns a receiver fn that parses serialized `tf.train.Example`s.

  The receiver feeds a string placeholder named 'input_example_tensor' of
  shape `[default_batch_size]` (under the key 'examples') and parses it with
  `feature_spec`.

  Args:
    feature_spec: dict of feature name to `FixedLenFeature`,
      `VarLenFeature`, ... (e.g. from `feature_column.make_parse_example_spec`).
    default_batch_size: static batch size, or None (recommended) for any.

  Returns:
    A no-argument function returning a `ServingInputReceiver`; call it while
    building a graph (it creates a v1 placeholder).
  """

  def serving_input_receiver_fn():
    examples = tf.compat.v1.placeholder(
        dtype=tf.string, shape=[default_batch_size],
        name='input_example_tensor')
    features = tf.compat.v1.io.parse_example(examples, feature_spec)
    return ServingInputReceiver(features, {'examples': examples})

  return serving_input_receiver_fn


def _placeholder_like(tensor, default_batch_size=None):
  """A placeholder with `tensor`'s dtype and shape, batch dim replaced.

  The placeholder reuses the op name of `tensor` (uniquified by the graph);
  eager tensors have no name, so the default one is used.
  """
  shape = tf.TensorShape([default_batch_size]).concatenate(
      tensor.get_shape()[1:])
  try:
    name = tensor.op.name
  except AttributeError:
    name = None
  return tf.compat.v1.placeholder(dtype=tensor.dtype, shape=shape, name=name)


def _placeholders_like(tensors, default_batch_size=None):
  return {
      key: _placeholder_like(t, default_batch_size)
      for key, t in tensors.items()
  }


def build_raw_serving_input_receiver_fn(features, default_batch_size=None):
  """Returns a receiver fn feeding each feature through its own placeholder.

  Args:
    features: dict of name to tensor; only names, dtypes and shapes (past
      the batch dimension) are used.
    default_batch_size: static batch size, or None (recommended) for any.

  Returns:
    A no-argument function returning a `ServingInputReceiver` whose features
    and receiver tensors are the same placeholders; call it while building a
    graph.
  """

  def serving_input_receiver_fn():
    placeholders = _placeholders_like(features, default_batch_size)
    return ServingInputReceiver(placeholders, placeholders)

  return serving_input_receiver_fn


def build_raw_supervised_input_receiver_fn(features,
                                           labels,
                                           default_batch_size=None):
  """Returns a receiver fn feeding features and labels through placeholders.

  `features` and `labels` may each be a tensor or a dict of tensors; the
  receiver hands them to the model in the same form. The receiver tensors
  are all placeholders in one dict, a lone feature under 'input' and a lone
  label under 'label', so feature and label keys must not overlap.

  Args:
    features: a tensor or dict of name to tensor; only structure, dtypes and
      shapes (past the batch dimension) are used.
    labels: likewise for the labels.
    default_batch_size: static batch size, or None (recommended) for any.

  Returns:
    A no-argument function returning a `SupervisedInputReceiver`; call it
    while building a graph.

  Raises:
    ValueError: feature and label keys overlap.
  """
  feature_keys = (set(features) if isinstance(features, dict) else
                  {_SINGLE_TENSOR_KEYS['receiver_tensor']})
  label_keys = (set(labels) if isinstance(labels, dict) else
                {_SINGLE_TENSOR_KEYS['label']})
  overlap = feature_keys & label_keys
  if overlap:
    raise ValueError('Features and labels must have distinct keys. '
                     'Found overlapping keys: {}'.format(overlap))

  def supervised_input_receiver_fn():
    if isinstance(features, dict):
      features_ph = _placeholders_like(features, default_batch_size)
      receiver_tensors = dict(features_ph)
    else:
      features_ph = _placeholder_like(features, default_batch_size)
      receiver_tensors = {_SINGLE_TENSOR_KEYS['receiver_tensor']: features_ph}
    if isinstance(labels, dict):
      labels_ph = _placeholders_like(labels, default_batch_size)
      receiver_tensors.update(labels_ph)
    else:
      labels_ph = _placeholder_like(labels, default_batch_size)
      receiver_tensors[_SINGLE_TENSOR_KEYS['label']] = labels_ph
    return SupervisedInputReceiver(features_ph, labels_ph, receiver_tensors)

  return supervised_input_receiver_fn


def build_supervised_input_receiver_fn_from_input_fn(input_fn, **input_fn_args):
  """Returns a supervised receiver fn whose placeholders mirror `input_fn`.

  `input_fn(**input_fn_args)` is called once, right away, inside a throwaway
  graph, only to learn the structure, dtypes and shapes of its features and
  labels; the placeholders are created later in whatever graph is current
  when the returned function runs.

  Args:
    input_fn: a training/evaluation input function returning
      `(features, labels)` or a Dataset of them.
    **input_fn_args: keyword arguments for `input_fn`.

  Returns:
    A receiver function as from `build_raw_supervised_input_receiver_fn`.

  Raises:
    ValueError: `input_fn` returned a tuple of other than two items, or
      feature and label keys overlap.
  """
  with tf.Graph().as_default():
    features, labels, _ = util.parse_input_fn_result(
        input_fn(**input_fn_args))
  return build_raw_supervised_input_receiver_fn(features, labels)
