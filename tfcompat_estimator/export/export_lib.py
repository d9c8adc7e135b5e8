"""2.15's `export/export_lib.py`: every name the exporters and their tests use.

One module with TensorFlow core's SavedModel helpers (`model_utils`: the
tag and signature-key maps, signature building, export directories), its
export outputs, and this package's receivers and receiver builders.
`install()` serves it at the deep path.
"""

# pylint: disable=unused-import,g-bad-import-order
from tensorflow.python.saved_model.model_utils import build_all_signature_defs
from tensorflow.python.saved_model.model_utils import EXPORT_TAG_MAP
from tensorflow.python.saved_model.model_utils import export_outputs_for_mode
from tensorflow.python.saved_model.model_utils import get_export_outputs
from tensorflow.python.saved_model.model_utils import get_temp_export_dir
from tensorflow.python.saved_model.model_utils import get_timestamped_export_dir
from tensorflow.python.saved_model.model_utils import SIGNATURE_KEY_MAP
from tensorflow.python.saved_model.model_utils.export_output import _SupervisedOutput
from tensorflow.python.saved_model.model_utils.export_output import ClassificationOutput
from tensorflow.python.saved_model.model_utils.export_output import EvalOutput
from tensorflow.python.saved_model.model_utils.export_output import ExportOutput
from tensorflow.python.saved_model.model_utils.export_output import PredictOutput
from tensorflow.python.saved_model.model_utils.export_output import RegressionOutput
from tensorflow.python.saved_model.model_utils.export_output import TrainOutput

from tfcompat_estimator.export.receivers import build_parsing_serving_input_receiver_fn
from tfcompat_estimator.export.receivers import build_raw_serving_input_receiver_fn
from tfcompat_estimator.export.receivers import build_raw_supervised_input_receiver_fn
from tfcompat_estimator.export.receivers import build_supervised_input_receiver_fn_from_input_fn
from tfcompat_estimator.export.receivers import ServingInputReceiver
from tfcompat_estimator.export.receivers import SupervisedInputReceiver
from tfcompat_estimator.export.receivers import TensorServingInputReceiver
from tfcompat_estimator.export.receivers import UnsupervisedInputReceiver
from tfcompat_estimator.export.receivers import wrap_and_check_input_tensors
