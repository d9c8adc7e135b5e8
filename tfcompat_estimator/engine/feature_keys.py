"""Features dicts whose keys are not all strings.

2.15 handed an input_fn's features dict to the model_fn as it was, so int keys
could sit beside str ones (2.15's own tests export such a model). The engine
flattens every batch with `tf.nest`, which sorts a dict's keys and cannot
order an int against a str (`TypeError: '<' not supported ...`). Such a dict
therefore travels from the input_fn to the model_fn under stand-in string
keys, and the model_fn gets the original keys back.
"""

_PREFIX = '__tfce_feature_key__'

# stand-in -> the original key; a program has a handful of such keys.
_originals = {}


def encode(features):
  """`features`, with stand-in str keys if its keys cannot be sorted together."""
  if not isinstance(features, dict):
    return features
  try:
    sorted(features)
    return features
  except TypeError:
    pass
  encoded = {}
  for key, value in features.items():
    if not isinstance(key, str):
      stand_in = f'{_PREFIX}{type(key).__name__}:{key!r}'
      _originals[stand_in] = key
      key = stand_in
    encoded[key] = value
  return encoded


def encode_result(result):
  """An input_fn's `result` (features, or a (features, labels) pair) encoded."""
  if (isinstance(result, (tuple, list)) and not hasattr(result, '_fields')
      and result):
    return type(result)([encode(result[0]), *result[1:]])
  return encode(result)


def decode(features):
  """`features` with any stand-in keys replaced by the input_fn's own."""
  if not isinstance(features, dict) or not any(
      isinstance(key, str) and key.startswith(_PREFIX) for key in features):
    return features
  return {_originals.get(key, key): value for key, value in features.items()}
