"""The TPU serving MetaGraph (tags `serve`, `tpu`) that TPUEstimator exports.

With `export_to_tpu=True` (the default) 2.15 exported, next to the CPU
graph, a PREDICT graph for TPU servers, even without a TPU: the model_fn
built inside `tpu.rewrite`, in a function called through `TPUPartitionedCall`
(which picks a TPU core per request), with the variables outside it. The
same structure is built here from TensorFlow's own TPU graph APIs; building
needs no TPU, and serving it needs one, as before. This module is the one
place that uses those private APIs.
"""

import collections
import contextlib

import tensorflow as tf
from tensorflow.python.framework import function
from tensorflow.python.tpu import functional as tpu_functional
from tensorflow.python.tpu import tpu
from tensorflow.python.tpu.ops import tpu_ops
from tensorflow.python.saved_model.model_utils import export_output as export_output_lib

from tfcompat_estimator import model_fn as model_fn_lib

# A predictions Tensor (not a dict) travels under this key, as in 2.15.
_SINGLE_PREDICTION_KEY = '_key_when_predictions_is_a_tensor'


class BatchConfig(collections.namedtuple('BatchConfig', [
    'num_batch_threads', 'max_batch_size', 'batch_timeout_micros',
    'allowed_batch_sizes', 'max_enqueued_batches'])):
  """How `call_computation` batches serving requests before the TPU."""

  def __new__(cls, num_batch_threads, max_batch_size, batch_timeout_micros,
              allowed_batch_sizes, max_enqueued_batches=100):
    return super().__new__(
        cls, num_batch_threads=num_batch_threads,
        max_batch_size=max_batch_size,
        batch_timeout_micros=batch_timeout_micros,
        allowed_batch_sizes=allowed_batch_sizes,
        max_enqueued_batches=max_enqueued_batches)


@contextlib.contextmanager
def inference_context():
  """The context 2.15 built TPU serving graphs in (no op checks)."""
  context = tpu._TPUInferenceContext('tpu_inference', check_ops=False)  # pylint: disable=protected-access
  context.Enter()
  try:
    yield
  finally:
    context.Exit()


def call_computation(computation_inputs, computation, batch_config=None):
  """Calls `computation(computation_inputs)` through `TPUPartitionedCall`.

  The computation becomes a function run on one TPU core per call, chosen
  round-robin, as 2.15 served TPU graphs. With `batch_config`, concurrent
  requests are first batched together.

  Args:
    computation_inputs: A tensor or nest of tensors.
    computation: Builds the graph from the inputs and returns a list of
      tensors (typically the outputs of `tf.compat.v1.tpu.rewrite`).
    batch_config: A `tpu_estimator.BatchConfig`, or None for no batching.

  Returns:
    The list of the computation's output tensors.
  """
  def partitioned_call(inputs):
    # Variables stay outside the function: they do not change while serving.
    @function.Defun(capture_resource_var_by_value=False)
    def tpu_subgraph():
      return computation(inputs)

    return tpu_functional.TPUPartitionedCall(
        args=tpu_subgraph.captured_inputs,
        device_ordinal=tpu_ops.tpu_ordinal_selector(),
        Tout=[o.type for o in tpu_subgraph.definition.signature.output_arg],
        f=tpu_subgraph)

  if not batch_config:
    return partitioned_call(computation_inputs)

  # A batch function takes a flat list of tensors: flatten, then rebuild.
  @tf.nondifferentiable_batch_function(
      num_batch_threads=batch_config.num_batch_threads,
      max_batch_size=batch_config.max_batch_size,
      batch_timeout_micros=batch_config.batch_timeout_micros,
      allowed_batch_sizes=batch_config.allowed_batch_sizes,
      max_enqueued_batches=batch_config.max_enqueued_batches,
      autograph=False)
  def batched(*flat_inputs):
    return partitioned_call(
        tf.nest.pack_sequence_as(computation_inputs, flat_inputs))

  return batched(*tf.nest.flatten(computation_inputs))


def _rewritten(computation, args=None):
  """`computation` rewritten for the TPU; its outputs as tensors on the host."""
  outputs = tf.compat.v1.tpu.rewrite(computation, args)
  tpu.prune_unconnected_ops_from_xla(tf.compat.v1.get_default_graph())
  return outputs


def inference_on_tpu(computation, inputs_to_tpu, num_batch_threads,
                     max_batch_size, batch_timeout_micros,
                     allowed_batch_sizes=None, max_enqueued_batches=100):
  """Runs `computation(*inputs_to_tpu)` on a TPU core, with batching.

  For model_fns exported with `export_saved_model_api_version=2`, which
  place their TPU part themselves (when `params['use_tpu']` is True).

  Args:
    computation: The TPU part of the model: tensors in, list of tensors out.
    inputs_to_tpu: The list of its input tensors.
    num_batch_threads, max_batch_size, batch_timeout_micros,
    allowed_batch_sizes, max_enqueued_batches: The batching of requests;
      none if `max_batch_size` is None or 0.

  Returns:
    The computation's output tensors (unbatched).
  """
  batch_config = None
  if max_batch_size:
    batch_config = BatchConfig(num_batch_threads, max_batch_size,
                               batch_timeout_micros, allowed_batch_sizes,
                               max_enqueued_batches)
  return call_computation(
      inputs_to_tpu, lambda args: _rewritten(computation, args), batch_config)


def model_fn_inference_on_tpu(model_fn, features, labels=None, config=None,
                              params=None, batch_config=None):
  """A model_fn's whole PREDICT model run on a TPU core (export API v2).

  Args:
    model_fn: The model_fn; called once, for PREDICT, inside the rewrite.
    features: A tensor or dict of tensors (not sparse).
    labels: Passed to the model_fn if it takes them.
    config: Passed to the model_fn if it takes it.
    params: Passed to the model_fn if it takes them.
    batch_config: A `BatchConfig` to batch requests, or None.

  Returns:
    The model_fn's `EstimatorSpec` with its predictions and export outputs
    computed on the TPU.
  """
  return rewritten_spec(
      lambda inputs: model_fn_lib.invoke_model_fn(
          model_fn, inputs, labels, model_fn_lib.ModeKeys.PREDICT, params,
          config),
      features, batch_config)


def rewritten_spec(call_model_fn, features, batch_config=None):
  """`call_model_fn(features)`'s PREDICT spec, computed by a TPU function.

  Args:
    call_model_fn: Builds the model (in the current graph) from features
      and returns its PREDICT `EstimatorSpec`.
    features: The serving features.
    batch_config: A `BatchConfig` to batch requests, or None.

  Returns:
    The spec with its predictions and export outputs replaced by the
    outputs of a `TPUPartitionedCall` of the rewritten model.
  """
  built = {}

  def tpu_computation(inputs):
    spec = call_model_fn(inputs)
    predictions = (spec.predictions if isinstance(spec.predictions, dict)
                   else {_SINGLE_PREDICTION_KEY: spec.predictions})
    predictions = collections.OrderedDict(predictions)
    outputs = collections.OrderedDict(
        (key, _output_tensors(output))
        for key, output in spec.export_outputs.items())
    built.update(spec=spec, predictions=predictions, outputs=outputs)
    return tf.nest.flatten(predictions) + [
        t for t in tf.nest.flatten(outputs) if t is not None]

  results = list(call_computation(
      features, lambda inputs: _rewritten(lambda: tpu_computation(inputs)),
      batch_config))
  spec, predictions, outputs = (built['spec'], built['predictions'],
                                built['outputs'])
  n = len(tf.nest.flatten(predictions))
  predictions = tf.nest.pack_sequence_as(predictions, results[:n])
  rest = iter(results[n:])
  outputs = tf.nest.pack_sequence_as(outputs, [
      None if t is None else next(rest) for t in tf.nest.flatten(outputs)])
  if list(predictions) == [_SINGLE_PREDICTION_KEY]:
    predictions = predictions[_SINGLE_PREDICTION_KEY]
  return spec._replace(
      predictions=predictions,
      export_outputs=collections.OrderedDict(
          (key, _with_tensors(spec.export_outputs[key], tensors))
          for key, tensors in outputs.items()))


def _output_tensors(export_output):
  """The tensors of an export output, in the order `_with_tensors` takes."""
  if isinstance(export_output, export_output_lib.ClassificationOutput):
    return [export_output.scores, export_output.classes]
  if isinstance(export_output, export_output_lib.RegressionOutput):
    return [export_output.value]
  if isinstance(export_output, export_output_lib.PredictOutput):
    return list(export_output.outputs.values())
  raise ValueError('A TPU serving graph takes export outputs of type '
                   'ClassificationOutput, RegressionOutput or PredictOutput; '
                   f'got {export_output!r}. Pass export_to_tpu=False to '
                   'export the CPU graph only.')


def _with_tensors(export_output, tensors):
  if isinstance(export_output, export_output_lib.ClassificationOutput):
    return export_output_lib.ClassificationOutput(*tensors)
  if isinstance(export_output, export_output_lib.RegressionOutput):
    return export_output_lib.RegressionOutput(*tensors)
  return export_output_lib.PredictOutput(
      dict(zip(export_output.outputs.keys(), tensors)))
