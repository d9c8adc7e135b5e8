"""2.15's experimental `export/function.py`: a model_fn as TF2 functions.

`ModelFunction` turns a `model_fn` into one `tf.function` per mode
(`train`, `evaluate`, `predict`), all sharing one set of variables, and
can be saved with `tf.saved_model.save`. Each mode's graph is traced by an
`_EstimatorWrappedGraph`: a `tf.compat.v1.wrap_function` graph (TF1 idioms
such as `get_variable` and collections work) that first creates the global
step, so `tf.compat.v1.train.get_global_step()` finds it in the model_fn.

A traced mode returns the tensors of its `EstimatorSpec` as a dict:
`{'predictions': ..., 'train_op': None}` in TRAIN (the train op runs with
each call and its output is None), `{'predictions': ...}` otherwise.

2.15 built `EstimatorSpecFunction` by overriding `tf.function`'s private
tracing hooks; TF 2.15 no longer called them, so there every call of a
`ModelFunction` failed (measured: train raised because no global step
existed, evaluate and predict because the whole EstimatorSpec was returned).
Here the `tf.function` traces a plain body that builds the mode's wrapped
graph outside the trace and calls the resulting concrete function, which
gives the behaviour 2.15's own (disabled) tests describe.
"""

import functools

import tensorflow as tf
from tensorflow.python.eager import wrap_function

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.export import receivers

ModeKeys = model_fn_lib.ModeKeys

_ALL_MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)
_RECEIVER_FN_NAME = '_input_receiver'


class ModelFunction(tf.__internal__.tracking.AutoTrackable):
  """A model_fn's modes as functions over one shared set of variables.

  Variables are shared by name across modes (the global step and every
  variable the model_fn creates), and tracked, so `tf.saved_model.save`
  writes them with every mode's traced functions. After loading, the
  functions are in `_functions[mode]` and the variables in
  `_variables_by_name`, as in 2.15.
  """

  def __init__(self, config=None, params=None):
    """Creates an object with no modes; add them with `add_mode`.

    Args:
      config: passed as `config` to model_fns that declare it.
      params: passed as `params` to model_fns that declare it.
    """
    self._functions = {}
    self._variable_holder = wrap_function.VariableHolder(share_variables=True)
    # A partial rather than attributes: AutoTrackable would wrap a params
    # dict in a tracking wrapper, which the model_fn would then receive.
    self._new_function = functools.partial(
        EstimatorSpecFunction, config=config, params=params,
        variable_holder=self._variable_holder)
    # The holder's name -> variable mapping is trackable: assigning it here
    # makes saving write the variables under their names.
    self._variables_by_name = self._variable_holder.variables

  @staticmethod
  def from_function(model_fn, all_modes=None, config=None, params=None):
    """A `ModelFunction` with `model_fn` added for each of `all_modes`.

    Args:
      model_fn: a function following `tf.estimator.Estimator`'s model_fn
        signature.
      all_modes: the `ModeKeys` to add; all three by default.
      config: passed as `config` to the model_fn if it declares it.
      params: passed as `params` to the model_fn if it declares it.

    Returns:
      The new `ModelFunction`.
    """
    obj = ModelFunction(config=config, params=params)
    for mode in _ALL_MODES if all_modes is None else all_modes:
      obj.add_mode(model_fn, mode)
    return obj

  @property
  def variables(self):
    """Variable name (e.g. 'global_step') -> variable, for all modes."""
    return self._variables_by_name

  def add_mode(self, fn, mode, input_signature=None):
    """Adds `fn` as the function run for `mode`.

    Args:
      fn: a model_fn.
      mode: a `ModeKeys` value, not added before.
      input_signature: optional `[features_spec]` or
        `[features_spec, labels_spec]` fixing the function's inputs.

    Raises:
      ValueError: `mode` is unknown or already has a function.
    """
    if mode in self._functions:
      raise ValueError('ModelFunction object has multiple functions with name'
                       f' {mode}.')
    self._functions[mode] = self._new_function(
        fn, mode, input_signature=input_signature)

  def train(self, features, labels):
    """Runs one TRAIN step; returns `{'predictions': ..., 'train_op': None}`.

    Args:
      features: the model_fn's features (tensors or a dict of them).
      labels: its labels; ignored if the model_fn takes none.
    """
    return self.call(ModeKeys.TRAIN, features, labels)

  def evaluate(self, features, labels):
    """Runs the EVAL function; returns `{'predictions': ...}`.

    Args:
      features: the model_fn's features (tensors or a dict of them).
      labels: its labels; ignored if the model_fn takes none.
    """
    return self.call(ModeKeys.EVAL, features, labels)

  def predict(self, features):
    """Runs the PREDICT function; returns `{'predictions': ...}`.

    Args:
      features: the model_fn's features (tensors or a dict of them).
    """
    return self.call(ModeKeys.PREDICT, features)

  def call(self, mode, features, labels=None):
    """Runs `mode`'s function on `features` (and `labels` if it takes them).

    Args:
      mode: a `ModeKeys` value added with `add_mode`.
      features: the model_fn's features (tensors or a dict of them).
      labels: its labels, or None; ignored if the function takes none.

    Returns:
      The dict of the mode's `EstimatorSpec` tensors (see the module doc).

    Raises:
      ValueError: no function was added for `mode`.
    """
    if mode not in self._functions:
      raise ValueError(
          f'Mode {mode} is not defined the ModelFunction. To add modes, use '
          f'the `add_mode()` function. Available modes: '
          f'{list(self._functions)}')
    function = self._functions[mode]
    if function.expects_labels:
      return function(features, labels)
    return function(features)


class EstimatorSpecFunction(tf.__internal__.function.Function):
  """A `tf.function` running one mode of a model_fn; savable.

  Each input signature is traced into its own `_EstimatorWrappedGraph`;
  variables come from `variable_holder`, so functions sharing a holder share
  variables by name. `expects_labels` says whether the function takes
  `(features, labels)` or only `features`.
  """

  def __init__(self, fn, mode, config=None, params=None,
               variable_holder=None, **kwargs):
    """Wraps model_fn `fn` for `mode`.

    Args:
      fn: a model_fn.
      mode: the `ModeKeys` value passed to `fn`; also the function's name.
      config: passed as `config` to `fn` if it declares it.
      params: passed as `params` to `fn` if it declares it.
      variable_holder: a `VariableHolder` sharing variables by name; a new
        one if None.
      **kwargs: further `tf.function` arguments, e.g. `input_signature`
        (`[features_spec]` or `[features_spec, labels_spec]`). Autograph is
        off unless `autograph=True` is given: model_fns are TF1 graph code.

    Raises:
      ValueError: `mode` is unknown, or `fn`'s arguments do not fit a
        model_fn.
    """
    if mode not in _ALL_MODES:
      raise ValueError(f'Unknown mode {mode!r}: expected one of {_ALL_MODES}.')
    model_fn_lib.verify_model_fn_args(fn, params)
    signature = kwargs.get('input_signature')
    if signature is not None and len(signature) not in (1, 2):
      raise ValueError('input_signature must be [features_spec] or '
                       f'[features_spec, labels_spec], given: {signature!r}')
    # A one-spec signature means the function is called with features only,
    # even if the model_fn declares labels (it then gets None).
    self.expects_labels = ('labels' in model_fn_lib.fn_args(fn) and
                           (signature is None or len(signature) == 2))
    self._spec_mode = mode
    self._spec_variable_holder = (
        variable_holder or wrap_function.VariableHolder(share_variables=True))

    def model_call(features, labels=None):
      return model_fn_lib.call_model_fn(fn, features, labels, mode, params,
                                        config)

    self._model_call = model_call
    if self.expects_labels:
      def body(features, labels=None):
        return self._traced_call(features, labels)
    else:
      def body(features):
        return self._traced_call(features)
    kwargs.setdefault('autograph', False)
    super().__init__(body, mode, **kwargs)

  def _traced_call(self, *inputs):
    """Traces the model_fn for these inputs' specs, and calls the result.

    The wrapped graph is built outside the tf.function being traced, as if
    eagerly: its variables must be created there, not in this trace.
    """
    specs = tf.nest.map_structure(_spec_or_value, inputs)
    with tf.init_scope():
      graph = _EstimatorWrappedGraph(self._spec_variable_holder)
      concrete = graph.wrap_model_fn(self._model_call, self._spec_mode,
                                     args=list(specs))
    return concrete(*inputs)


def _spec_or_value(value):
  """A TensorSpec (TypeSpec) for a tensor; other values stay as they are."""
  if tf.is_tensor(value):
    return tf.type_spec_from_value(value)
  return value


class _EstimatorWrappedGraph(wrap_function.WrappedGraph):
  """A `WrappedGraph` holding the global step and one wrapped model_fn.

  Creating it creates (or, with a shared variable holder, finds) the
  global step in the graph, so model_fns and input receivers wrapped here
  see it through `tf.compat.v1.train.get_global_step()`.
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._read_global_step = self.wrap_function(
        tf.compat.v1.train.get_or_create_global_step, signature=[],
        name='_global_step')
    self._concrete_model_fn = None
    self._estimator_spec = None

  @property
  def global_step(self):
    """The global step's current value (a read, run on each access)."""
    return self._read_global_step()

  @property
  def model_fn(self):
    """The concrete function `wrap_model_fn` returned, or None."""
    return self._concrete_model_fn

  @property
  def estimator_spec(self):
    """The `EstimatorSpec` the wrapped model_fn returned, in this graph.

    Raises:
      ValueError: no model_fn was wrapped yet.
    """
    if self._concrete_model_fn is None:
      raise ValueError('Please wrap a model function first.')
    return self._estimator_spec

  def wrap_model_fn(self, model_fn, mode, args=None, kwargs=None,
                    signature=None):
    """Traces `model_fn` into this graph as a concrete function.

    Args:
      model_fn: called with `args` and `kwargs`; must return an
        `EstimatorSpec`.
      mode: the `ModeKeys` value the spec is for; names the function
        `model_fn_<mode>`.
      args: positional arguments: tensors or TensorSpecs become the
        function's inputs, other values are passed as they are.
      kwargs: keyword arguments, likewise.
      signature: alternatively, TensorSpecs of all the arguments.

    Returns:
      A concrete function of the tensor arguments, returning
      `{'predictions': ...}` plus `'train_op': None` in TRAIN (running the
      train op). The spec itself is kept in `estimator_spec`.

    Raises:
      ValueError: called twice, or model_fn did not return an EstimatorSpec.
    """
    if self._concrete_model_fn is not None:
      raise ValueError('`wrap_model_fn` should be only called once per graph.')

    def spec_outputs(*fn_args, **fn_kwargs):
      spec = model_fn(*fn_args, **fn_kwargs)
      if not isinstance(spec, model_fn_lib.EstimatorSpec):
        raise ValueError(f'model_fn should return an EstimatorSpec, given: '
                         f'{spec!r}')
      self._estimator_spec = spec
      outputs = {'predictions': spec.predictions}
      if (spec.mode or mode) == ModeKeys.TRAIN:
        outputs['train_op'] = spec.train_op  # an op: run, returned as None
      return outputs

    # Tracing needs both, even if empty (unless `signature` replaces them).
    self._concrete_model_fn = self._wrap_function(
        spec_outputs, args=list(args or ()), kwargs=dict(kwargs or {}),
        signature=signature, name=f'model_fn_{mode}')
    return self._concrete_model_fn

  def wrap_input_receiver_fn(self, input_receiver_fn):
    """Concrete functions from an input receiver's tensors to its features.

    `input_receiver_fn` builds its receiver (placeholders and the ops from
    them to the features) in this graph. One function is made per group of
    receiver tensors: the receiver's own, taking them as arguments (in
    sorted key order, or by key), and one per entry of
    `receiver_tensors_alternatives`. Each returns the features, or
    `(features, labels)` for a receiver with labels.

    Args:
      input_receiver_fn: a function of no arguments returning an input
        receiver (e.g. `ServingInputReceiver`).

    Returns:
      A list of `(concrete function, name)`: name None for the receiver's
      own tensors, else the alternative's key.

    Raises:
      ValueError: a receiver tensor is not a dense Tensor.
    """
    with self.graph.as_default():
      receiver = self._variable_holder.call_with_variable_creator_scope(
          input_receiver_fn)()
    labels = getattr(receiver, 'labels', None)
    outputs = receiver.features if labels is None else (receiver.features,
                                                        labels)
    groups = [(None, receiver.receiver_tensors)]
    alternatives = getattr(receiver, 'receiver_tensors_alternatives', None)
    groups.extend((alternatives or {}).items())
    functions = []
    for name, tensors in groups:
      functions.append((self._receiver_function(name, tensors, outputs), name))
    return functions

  def _receiver_function(self, name, receiver_tensors, outputs):
    field = ('receiver_tensor' if name is None else
             'receiver_tensors_alternative')
    feeds = receivers.wrap_and_check_input_tensors(receiver_tensors, field)
    for key, tensor in feeds.items():
      if not isinstance(tensor, tf.Tensor):
        raise ValueError(
            f'Receiver tensor {key!r} ({type(tensor).__name__}) of input '
            f'receiver {name or "default"!r} is not a dense Tensor: wrapped '
            'receiver functions take dense tensors only.')
    # Keyword arguments named by key; positional ones in sorted-key order.
    signature = {key: tf.TensorSpec(t.shape, t.dtype, name=key)
                 for key, t in feeds.items()}
    return self._wrapped_function.prune(
        feeds, outputs,
        name=_RECEIVER_FN_NAME if name is None else f'{_RECEIVER_FN_NAME}_{name}',
        input_signature=((), signature))
