"""`tf.estimator.experimental`: the parts implemented so far."""

# pylint: disable=unused-import
from tfcompat_estimator import lazy_exports as _lazy
from tfcompat_estimator.early_stopping import make_early_stopping_hook
from tfcompat_estimator.early_stopping import stop_if_higher_hook
from tfcompat_estimator.early_stopping import stop_if_lower_hook
from tfcompat_estimator.early_stopping import stop_if_no_decrease_hook
from tfcompat_estimator.early_stopping import stop_if_no_increase_hook
from tfcompat_estimator.evaluation_hooks import InMemoryEvaluatorHook
from tfcompat_estimator.evaluation_hooks import make_stop_at_checkpoint_step_hook
from tfcompat_estimator.export.receivers import build_raw_supervised_input_receiver_fn
from tfcompat_estimator.model_fn import call_logit_fn

__getattr__ = _lazy.module_getattr(
    __name__, {**_lazy.EXPERIMENTAL_V2, **_lazy.EXPERIMENTAL_V1})
