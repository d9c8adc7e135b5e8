"""`tf.estimator.experimental`: the parts implemented so far."""

from tfcompat_estimator.export.receivers import build_raw_supervised_input_receiver_fn  # pylint: disable=unused-import
