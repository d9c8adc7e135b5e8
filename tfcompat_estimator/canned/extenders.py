"""`add_metrics`: extra evaluation metrics for an existing estimator."""

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.model_fn import ModeKeys

_METRIC_FN_ARGS = ('features', 'labels', 'predictions', 'config')


def add_metrics(estimator, metric_fn):
  """A new Estimator: `estimator`'s model plus `metric_fn`'s eval metrics.

  The new estimator shares `estimator`'s model_dir, config and warm-start
  settings. `metric_fn` may take any of `features`, `labels`, `predictions`
  (the model's predictions dict) and `config`, and returns a dict of metric
  name to a `tf.keras.metrics.Metric` or a `(value, update_op)` pair; its
  names override the model's metrics of the same name.

  Raises:
    ValueError: `metric_fn` takes an argument not listed above.
  """
  unexpected = [name for name in model_fn_lib.fn_args(metric_fn)
                if name not in _METRIC_FN_ARGS]
  if unexpected:
    raise ValueError('metric_fn (%s) has following not expected args: %s' %
                     (metric_fn, unexpected))
  base_model_fn = estimator.model_fn

  def model_fn(features, labels, mode, config):
    spec = base_model_fn(features, labels, mode, config)
    if mode != ModeKeys.EVAL:
      return spec
    extra = metric_fn(**model_fn_lib.supported_kwargs(
        metric_fn, features=features, labels=labels,
        predictions=spec.predictions, config=config))
    metrics = dict(spec.eval_metric_ops or {})
    metrics.update(extra)
    return spec._replace(eval_metric_ops=metrics)

  return estimator_lib.Estimator(
      model_fn=model_fn, model_dir=estimator.model_dir,
      config=estimator.config,
      warm_start_from=estimator._warm_start_settings)  # pylint: disable=protected-access
