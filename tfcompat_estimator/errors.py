"""The errors of this package that programs may catch.

2.15 had none of these: where it hung, restarted from step 0 or failed deep
inside TensorFlow, these say what went wrong and what to do. Each is a
subclass of the built-in error a 2.15 program would already catch
(`ValueError`, `RuntimeError`; a checkpoint that does not fit the model is
also the `tf.errors.OpError` 2.15's restore raised), so existing `except`
clauses keep working.

    from tfcompat_estimator import errors
    try:
      estimator.train(input_fn, max_steps=1000)
    except errors.CheckpointError as e:
      ...  # the message names the file and the variable
"""

# pylint: disable=unused-import
from tfcompat_estimator.engine.distribution import WorkerUnavailableError
from tfcompat_estimator.engine.parameter_servers import ParameterServerError
from tfcompat_estimator.io.checkpoints import CheckpointError
from tfcompat_estimator.io.checkpoints import CheckpointMismatchError
from tfcompat_estimator.io.checkpoints import CheckpointMissingError
from tfcompat_estimator.io.checkpoints import CheckpointVanishedError

__all__ = [
    'CheckpointError',  # a checkpoint cannot be read or does not fit the model
    'CheckpointMismatchError',  # a variable's shape or dtype differs
    'CheckpointMissingError',  # it lacks variables the model needs
    'CheckpointVanishedError',  # its files were removed while being read
    'ParameterServerError',  # parameter-server training lost a ps task
    'WorkerUnavailableError',  # multi-worker training lost another worker
]
