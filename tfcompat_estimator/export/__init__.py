"""`tf.estimator.export`: serving input receivers and export outputs.

Exposes the same nine names as `tf.estimator.export` (identical in the v1
namespace). The export output classes are TensorFlow core's own, so objects
built here are accepted wherever TensorFlow expects them. Supervised and
unsupervised receivers live in `tfcompat_estimator.export.receivers`.
"""

from tensorflow.python.saved_model.model_utils.export_output import ClassificationOutput
from tensorflow.python.saved_model.model_utils.export_output import EvalOutput
from tensorflow.python.saved_model.model_utils.export_output import ExportOutput
from tensorflow.python.saved_model.model_utils.export_output import PredictOutput
from tensorflow.python.saved_model.model_utils.export_output import RegressionOutput

from tfcompat_estimator.export.receivers import build_parsing_serving_input_receiver_fn
from tfcompat_estimator.export.receivers import build_raw_serving_input_receiver_fn
from tfcompat_estimator.export.receivers import ServingInputReceiver
from tfcompat_estimator.export.receivers import TensorServingInputReceiver
from tfcompat_estimator import lazy_exports as _lazy

__all__ = [
    'ClassificationOutput',
    'EvalOutput',
    'ExportOutput',
    'PredictOutput',
    'RegressionOutput',
    'ServingInputReceiver',
    'TensorServingInputReceiver',
    'build_parsing_serving_input_receiver_fn',
    'build_raw_serving_input_receiver_fn',
]

# dir() shows the nine names, not the `export_lib`/`receivers` submodules.
__dir__ = _lazy.module_dir(__name__, __all__)
