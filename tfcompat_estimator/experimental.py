"""`tf.estimator.experimental` (v2); `compat/v1_experimental.py` is v1's.

Both resolve every experimental name of either API (2.15 had two modules
with different names; a program asking the other one's name gets it here),
but each `dir()` lists only its own 2.15 names.
"""

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

# The names both APIs import eagerly (the lazy tables hold the rest).
EAGER_NAMES = (
    'InMemoryEvaluatorHook', 'build_raw_supervised_input_receiver_fn',
    'call_logit_fn', 'make_early_stopping_hook',
    'make_stop_at_checkpoint_step_hook', 'stop_if_higher_hook',
    'stop_if_lower_hook', 'stop_if_no_decrease_hook',
    'stop_if_no_increase_hook')
__all__ = list(EAGER_NAMES)

__getattr__ = _lazy.module_getattr(
    __name__, {**_lazy.EXPERIMENTAL_V2, **_lazy.EXPERIMENTAL_V1})
__dir__ = _lazy.module_dir(__name__, EAGER_NAMES, _lazy.EXPERIMENTAL_V2)
