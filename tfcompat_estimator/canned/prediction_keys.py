"""Names of the prediction tensors the canned heads return (2.15's keys)."""


class PredictionKeys(object):
  """Prediction key strings shared by heads, canned estimators and exports."""
  CLASSES = 'classes'
  CLASS_IDS = 'class_ids'
  ALL_CLASSES = 'all_classes'
  ALL_CLASS_IDS = 'all_class_ids'
  LOGISTIC = 'logistic'
  LOGITS = 'logits'
  PREDICTIONS = 'predictions'
  PROBABILITIES = 'probabilities'
  TOP_K = 'top_k'
