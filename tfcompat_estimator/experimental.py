"""`tf.estimator.experimental`: the parts implemented so far."""

from tfcompat_estimator import lazy_exports as _lazy
from tfcompat_estimator.export.receivers import build_raw_supervised_input_receiver_fn  # pylint: disable=unused-import

__getattr__ = _lazy.module_getattr(
    __name__, {**_lazy.EXPERIMENTAL_V2, **_lazy.EXPERIMENTAL_V1})
