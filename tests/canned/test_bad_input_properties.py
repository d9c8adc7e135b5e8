"""Property-based tests: a wrong input_fn output fails clearly, never silently.

Hypothesis draws a valid random batch, puts one mistake on top of it and feeds
it to one of five models, each trained one step in its own model_dir:
DNNClassifier (3 classes), LinearClassifier (label_vocabulary ['no', 'yes']),
DNNLinearCombinedClassifier (binary), a v1 LinearRegressor, and a custom
model_fn on tf.compat.v1.feature_column.input_layer. They read 'price'
(numeric_column, shape (2,)), 'shop' (identity ids, fed as a SparseTensor;
under an embedding column except in the linear models) and 'tint'
(vocabulary strings, fed dense; under an indicator column in the DNNs).

A rejected mistake must raise a Python exception whose message names the
feature (or the labels) and what was expected, in train and in evaluate; the
failed train must leave the checkpoint files byte-identical and the
`checkpoint` state pointing at the same checkpoints, and evaluating good input
afterwards must give the metrics it gave before. An accepted variant must
evaluate exactly like the canonical input it stands for. The fast tier runs
one fixed example per mistake, the families taken in turn; the slow tier runs
random examples for every (mistake, family) pair.

Behaviour per mistake (canned = the four canned models; "custom" errors are
TensorFlow's own feature-column errors, the same as under 2.15):
- missing feature key: ValueError "Feature <key> is not in features dictionary".
- extra feature key (any name, dtype, dense or sparse): ignored, as in 2.15.
- string for a numeric column: canned ValueError "must be numeric" (2.15 failed
  in the step with "Cast string to float"); custom: that UnimplementedError.
- int or bool for a numeric column: cast, same metrics as the float values.
- float/string ids for an identity column, numbers for a vocabulary column:
  ValueError naming the key and the dtype.
- numeric feature with the wrong number of values per example: canned
  ValueError naming both shapes; custom: a reshape error at input_layer/price.
- SparseTensor for a numeric column: ValueError naming the key.
- dense ids for a categorical column, a SparseTensor of strings for a
  vocabulary column: accepted, same metrics as the other form.
- rank-3 ids under an embedding: canned ValueError naming the key; the linear
  models pool them like the flattened ids (as 2.15).
- NaN in a numeric feature of a linear or custom model: NaN loss ->
  NanLossDuringTrainingError (2.15's always-on NanTensorHook); evaluate
  reports a NaN loss. DNN models: see below.
- labels outside [0, n_classes): InvalidArgumentError "Labels must be <=
  n_classes - 1 (n_classes=N)" / ">= 0", listing the offending labels.
- labels not in label_vocabulary: InvalidArgumentError listing the vocabulary
  and the unknown labels.
- labels of the wrong dtype: ValueError naming the dtype wanted.
- NaN or Inf labels: classifiers fail the label range check showing nan/inf
  (as 2.15 for NaN); regressor and custom model: NanLossDuringTrainingError
  for a NaN or infinite loss (2.15 only caught NaN and trained on inf).
- labels of the wrong width or rank: ValueError naming the labels' shape and
  the expected one (2.15: a bare "Dimensions must be equal" for rank 3);
  labels of shape [batch_size] are accepted.
- labels missing: ValueError "You must provide a labels Tensor".
- features and labels of different batch sizes: ValueError (static shapes) or
  InvalidArgumentError per step, both saying "batch size".
- a batch with no examples, in every model: ValueError (static shapes) or
  InvalidArgumentError "empty batch" naming the features, in train and
  evaluate (2.15 trained a step on nothing and evaluated it to loss 0 and
  accuracy 0); a canned head's "labels are empty" or, in the linear models,
  TF's SparseReshape of the empty ids ("... for an empty tensor ...") may
  report first: the checks run in no fixed order.
- an input_fn with no batch at all: train does nothing (as 2.15).
- NaN or Inf in a float feature of a numeric_column read by a DNN tower
  (DNN*, DNNLinearCombined*): InvalidArgumentError naming the feature, in
  train and evaluate (predict and exports answer as 2.15). 2.15 trained on
  them silently and saved NaN weights: a fused MatMul+BiasAdd+ReLU turns a
  NaN input into 0, so the loss stayed finite while the kernel's gradient
  was NaN.
- evaluate over an input with no batches: ValueError (2.15 reported 0 for
  every metric).
- a RaggedTensor feature: TypeError naming the key.

- a train call failing in its first step leaves every checkpoint file and
  the `checkpoint` state file byte-identical (its initial save of the
  restored step rewrites nothing).
- features of different batch sizes (canned): ValueError or
  InvalidArgumentError "same batch size" listing each feature with its size.
"""

import dataclasses
import os
import pathlib
import string

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
import pytest
import tensorflow as tf

fc = tf.feature_column
NanLossDuringTrainingError = tf.compat.v1.train.NanLossDuringTrainingError

FAMILIES = ('dnn', 'linear', 'combined', 'regressor', 'custom')
CANNED = FAMILIES[:4]
TINTS = ('r', 'g', 'b')
VOCABULARY = ('no', 'yes')
N_CLASSES = {'dnn': 3, 'combined': 2}
FAST_EXAMPLES = 1
SLOW_EXAMPLES = 8


# --- inputs ------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Sparse:
  """A SparseTensor holding every entry of `dense` (zeros and '' included)."""
  dense: np.ndarray

  def tensor(self):
    indices = np.argwhere(np.ones(self.dense.shape, bool))
    return tf.SparseTensor(indices, self.dense.reshape(-1), self.dense.shape)


@dataclasses.dataclass(eq=False)
class Ragged:
  rows: tuple

  def tensor(self):
    return tf.ragged.constant(self.rows, dtype=tf.float32)


def _tensor(value):
  return value.tensor() if isinstance(value, (Sparse, Ragged)) else (
      tf.constant(value))


def _relax(tensor):
  """`tensor` with an unknown batch dimension, as batched data has."""
  if isinstance(tensor, tf.SparseTensor):
    return tf.SparseTensor(_relax(tensor.indices), _relax(tensor.values),
                           tensor.dense_shape)
  if isinstance(tensor, tf.RaggedTensor):
    return tensor
  return tf.compat.v1.placeholder_with_default(
      tensor, [None] + tensor.shape.as_list()[1:])


def input_fn(features, labels, static=False, batches=1):
  """One batch (or none) of `features` and `labels` from a Dataset."""
  def fn():
    data = {key: _tensor(value) for key, value in features.items()}
    if labels is not None:
      data = (data, tf.constant(labels))
    dataset = tf.data.Dataset.from_tensors(data).take(batches)
    if not static:
      dataset = dataset.map(
          lambda *element: tf.nest.map_structure(_relax, element))
    return dataset
  return fn


# --- the models --------------------------------------------------------------


def _columns(dense):
  """price, shop and tint columns; `dense`: shop and tint as DNN inputs."""
  price = fc.numeric_column('price', shape=(2,))
  shop = fc.categorical_column_with_identity('shop', 3)
  tint = fc.categorical_column_with_vocabulary_list('tint', TINTS)
  if dense:
    return [price, fc.embedding_column(shop, 2), fc.indicator_column(tint)]
  return [price, shop, tint]


def _custom_model_fn(features, labels, mode):
  net = tf.compat.v1.feature_column.input_layer(features, _columns(True))
  logits = tf.compat.v1.layers.dense(net, 1)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'logits': logits})
  loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
  step = tf.compat.v1.train.get_or_create_global_step()
  train_op = tf.compat.v1.train.AdagradOptimizer(0.1).minimize(loss, step)
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _estimator(family, model_dir):
  config = tf.estimator.RunConfig(tf_random_seed=1)
  kwargs = dict(model_dir=model_dir, config=config)
  if family == 'dnn':
    return tf.estimator.DNNClassifier([3], _columns(True), n_classes=3,
                                      **kwargs)
  if family == 'linear':
    return tf.estimator.LinearClassifier(
        _columns(False), label_vocabulary=list(VOCABULARY), **kwargs)
  if family == 'combined':
    return tf.estimator.DNNLinearCombinedClassifier(
        linear_feature_columns=_columns(False)[1:],
        dnn_feature_columns=_columns(True)[:2], dnn_hidden_units=[3],
        **kwargs)
  if family == 'regressor':
    return tf.compat.v1.estimator.LinearRegressor(_columns(False), **kwargs)
  return tf.estimator.Estimator(_custom_model_fn, **kwargs)


def _valid_labels(family, rows, rng):
  if family == 'linear':
    return np.array(VOCABULARY)[rng.randint(0, 2, (rows, 1))]
  if family == 'regressor':
    return rng.uniform(-2, 2, (rows, 1)).astype(np.float32)
  ids = rng.randint(0, N_CLASSES.get(family, 2), (rows, 1))
  return ids.astype(np.float32 if family == 'custom' else np.int64)


def valid_batch(family, rows, seed):
  rng = np.random.RandomState(seed)
  features = {'price': rng.uniform(-3, 3, (rows, 2)).astype(np.float32),
              'shop': Sparse(rng.randint(0, 3, (rows, 1)).astype(np.int64)),
              'tint': np.array(TINTS)[rng.randint(0, 3, (rows, 1))]}
  return features, _valid_labels(family, rows, rng)


class Model:
  """One estimator, trained a step, with its metrics on a reference batch."""

  def __init__(self, family, model_dir):
    self.model_dir = model_dir
    self.estimator = _estimator(family, model_dir)
    self.reference = input_fn(*valid_batch(family, rows=4, seed=0))
    self.estimator.train(self.reference, steps=1)
    self.metrics = self.estimator.evaluate(self.reference, steps=1)

  def evaluate(self, fn):
    return self.estimator.evaluate(fn, steps=1)


@pytest.fixture(scope='module')
def models(tmp_path_factory):
  """Family name -> Model, built on first use and shared by the module."""
  built = {}

  def get(family):
    if family not in built:
      built[family] = Model(family, str(tmp_path_factory.mktemp(family)))
    return built[family]
  return get


# --- expectations ------------------------------------------------------------


@dataclasses.dataclass
class Rejected:
  """Train and evaluate raise one of `errors` with all of `texts` in it.

  A tuple in `texts` lists alternatives: graph assertions that do not depend
  on each other run in no fixed order, so either may report first.
  """
  errors: tuple
  texts: list


@dataclasses.dataclass
class NanLoss:
  """Train raises NanLossDuringTrainingError; evaluate reports that loss."""


@dataclasses.dataclass
class SameAs:
  """Evaluates exactly like the canonical (`features`, `labels`)."""
  features: dict
  labels: np.ndarray


@dataclasses.dataclass
class Case:
  features: dict
  labels: object
  expect: object
  static: bool = False


def _snapshot(model_dir):
  """{file name: bytes} of the checkpoint files and state (not events)."""
  return {name: pathlib.Path(model_dir, name).read_bytes()
          for name in sorted(os.listdir(model_dir))
          if name == 'checkpoint' or name.startswith('model.ckpt')}


def _state(model_dir):
  state = tf.train.get_checkpoint_state(model_dir)
  return state.model_checkpoint_path, list(state.all_model_checkpoint_paths)


def assert_same_metrics(got, want):
  assert sorted(got) == sorted(want)
  for key in want:
    np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)


def assert_checkpoints_unchanged(model, before, state_before):
  after = _snapshot(model.model_dir)
  assert sorted(after) == sorted(before)
  for name in before:
    assert after[name] == before[name], name
  assert _state(model.model_dir) == state_before


def assert_evaluates_as_before(model):
  assert_same_metrics(model.evaluate(model.reference), model.metrics)


def _raises(expect, call):
  with pytest.raises(expect.errors) as error:
    call()
  message = str(error.value)
  for text in expect.texts:
    alternatives = text if isinstance(text, tuple) else (text,)
    assert any(t in message for t in alternatives), (text, message)


def check(model, case):
  """Asserts `case.expect` for `case` on `model`."""
  bad = input_fn(case.features, case.labels, static=case.static)
  expect = case.expect
  if isinstance(expect, SameAs):
    canonical = input_fn(expect.features, expect.labels, static=case.static)
    assert_same_metrics(model.evaluate(bad), model.evaluate(canonical))
    return
  before, state_before = _snapshot(model.model_dir), _state(model.model_dir)
  if isinstance(expect, NanLoss):
    with pytest.raises(NanLossDuringTrainingError):
      model.estimator.train(bad, steps=1)
    assert not np.isfinite(model.evaluate(bad)['loss'])
  else:
    _raises(expect, lambda: model.estimator.train(bad, steps=1))
    _raises(expect, lambda: model.evaluate(bad))
  assert_checkpoints_unchanged(model, before, state_before)


# --- mistakes: each draws a Case for a family --------------------------------

_ROWS = st.integers(1, 5)
_SEEDS = st.integers(0, 2**16)


@st.composite
def _batch(draw, family, rows=None):
  rows = draw(_ROWS) if rows is None else rows
  return valid_batch(family, rows, draw(_SEEDS))


def _feature_error(family, canned, custom, custom_errors=(ValueError,)):
  """Rejected with the canned checks' wording, or TF's for the custom model."""
  if family == 'custom':
    return Rejected(custom_errors, custom)
  return Rejected((ValueError,), canned)


@st.composite
def missing_feature(draw, family):
  features, labels = draw(_batch(family))
  key = draw(st.sampled_from(sorted(features)))
  del features[key]
  return Case(features, labels, Rejected(
      (ValueError,), [f'Feature {key} is not in features dictionary']))


def _any_value(rows):
  """A dense or sparse value of any common dtype with `rows` rows."""
  dense = st.sampled_from([
      np.ones((rows, 3), np.float32), np.arange(rows, dtype=np.int32),
      np.array([['x']] * rows), np.zeros((rows, 2, 2), bool)])
  return st.one_of(dense, st.builds(Sparse, dense))


@st.composite
def extra_feature(draw, family):
  features, labels = draw(_batch(family))
  rows = len(labels)
  names = st.text(string.ascii_letters + string.digits + ' _/:.-', max_size=8)
  extras = draw(st.dictionaries(names.filter(lambda k: k not in features),
                                _any_value(rows), min_size=1, max_size=3))
  return Case({**features, **extras}, labels, SameAs(features, labels))


@st.composite
def wrong_feature_dtype(draw, family):
  features, labels = draw(_batch(family))
  rows = len(labels)
  key, dtype = draw(st.sampled_from([
      ('price', np.str_), ('shop', np.float32), ('shop', np.str_),
      ('tint', np.int64), ('tint', np.float32)]))
  value = np.ones((rows, 2) if key == 'price' else (rows, 1)).astype(dtype)
  name = tf.as_dtype(value.dtype).name
  if key == 'price':
    expect = _feature_error(
        family, ["Feature 'price' must be numeric for "
                 "numeric_column('price'), got string"],
        ['Cast string to float', 'input_layer/price/'],
        (tf.errors.UnimplementedError,))
  elif key == 'shop':
    expect = _feature_error(
        family, ["Feature 'shop' must be integer for categorical_column_with_"
                 f"identity('shop'), got {name}"],
        ['not integer. key: shop', name])
  else:
    expect = _feature_error(
        family, ["Feature 'tint' must be string for categorical_column_with_"
                 f"vocabulary_list('tint'), got {name}"],
        ['tint', name])
  return Case({**features, key: value}, labels, expect)


@st.composite
def castable_numeric_dtype(draw, family):
  features, labels = draw(_batch(family))
  values = np.array(draw(st.lists(st.integers(-3, 3), min_size=2 * len(labels),
                                  max_size=2 * len(labels))))
  dtype = draw(st.sampled_from([np.int32, np.int64, bool]))
  price = values.reshape(-1, 2).astype(dtype)
  canonical = {**features, 'price': price.astype(np.float32)}
  return Case({**features, 'price': price}, labels, SameAs(canonical, labels))


@st.composite
def wrong_numeric_size(draw, family):
  features, labels = draw(_batch(family))
  per_example = draw(st.lists(st.integers(1, 3), max_size=3).filter(
      lambda dims: np.prod(dims, dtype=int) != 2))
  shape = (len(labels), *per_example)
  expect = _feature_error(
      family, ["Feature 'price' has shape",
               "numeric_column('price') has shape (2,): it needs 2 value(s)"],
      ['input_layer/price/'], (ValueError, tf.errors.InvalidArgumentError))
  return Case({**features, 'price': np.ones(shape, np.float32)}, labels,
              expect)


@st.composite
def sparse_numeric(draw, family):
  features, labels = draw(_batch(family))
  features['price'] = Sparse(features['price'])
  return Case(features, labels, _feature_error(
      family, ["Feature 'price' must be a dense Tensor for numeric_column"
               "('price'), got a SparseTensor"],
      ['SparseTensor is not supported. key: price']))


@st.composite
def other_categorical_form(draw, family):
  """Dense ids instead of sparse ones, or sparse strings instead of dense."""
  features, labels = draw(_batch(family))
  key = draw(st.sampled_from(['shop', 'tint']))
  value = features[key]
  other = value.dense if isinstance(value, Sparse) else Sparse(value)
  return Case({**features, key: other}, labels, SameAs(features, labels))


@st.composite
def rank_3_ids(draw, family):
  features, labels = draw(_batch(family))
  rows = len(labels)
  inner, per_row = draw(st.integers(2, 3)), draw(st.integers(1, 2))
  count = rows * inner * per_row
  ids = np.array(draw(st.lists(st.integers(0, 2), min_size=count,
                               max_size=count)), np.int64)
  ids = ids.reshape(rows, inner, per_row)
  bad = {**features, 'shop': ids}
  if family in ('linear', 'regressor'):  # pooled, as the flattened ids
    return Case(bad, labels, SameAs(
        {**features, 'shop': ids.reshape(rows, -1)}, labels))
  return Case(bad, labels, _feature_error(
      family, [f"Feature 'shop' has shape [None, {inner}, {per_row}], but "
               "categorical_column_with_identity('shop') under an indicator "
               'or embedding column takes ids of shape'],
      ['input_layer/shop_embedding/'],
      (ValueError, tf.errors.InvalidArgumentError)))


def _some_positions(draw, shape):
  """A non-empty boolean mask of `shape`."""
  size = int(np.prod(shape))
  picked = draw(st.sets(st.integers(0, size - 1), min_size=1,
                        max_size=min(size, 3)))
  mask = np.zeros(size, bool)
  mask[list(picked)] = True
  return mask.reshape(shape)


@st.composite
def nan_feature(draw, family):
  features, labels = draw(_batch(family))
  price = features['price'].copy()
  price[_some_positions(draw, price.shape)] = np.nan
  return Case({**features, 'price': price}, labels, NanLoss())


def _assertion_text(wording, values):
  """How a label range assertion prints `wording` and the labels it shows."""
  return f'{wording}:] [{" ".join(str(v) for v in values)}]'


@st.composite
def label_out_of_range(draw, family):
  features, labels = draw(_batch(family))
  n_classes = N_CLASSES[family]
  too_big = draw(st.booleans())
  values = st.integers(n_classes, 50) if too_big else st.integers(-50, -1)
  mask = _some_positions(draw, labels.shape)
  bad = labels.copy()
  count = int(mask.sum())
  bad[mask] = draw(st.lists(values, min_size=count, max_size=count))
  wording = (f'Labels must be <= n_classes - 1 (n_classes={n_classes})'
             if too_big else 'Labels must be >= 0')
  return Case(features, bad, Rejected(
      (tf.errors.InvalidArgumentError,),
      [_assertion_text(wording, bad[mask])]))


@st.composite
def label_not_in_vocabulary(draw, family):
  features, labels = draw(_batch(family))
  mask = _some_positions(draw, labels.shape)
  unknown = st.text(string.ascii_letters, min_size=1, max_size=6).filter(
      lambda word: word not in VOCABULARY)
  bad = labels.astype(object)
  count = int(mask.sum())
  bad[mask] = draw(st.lists(unknown, min_size=count, max_size=count))
  return Case(features, bad.astype(str), Rejected(
      (tf.errors.InvalidArgumentError,),
      [_assertion_text('label_vocabulary: [no, yes]; labels not in it',
                       bad[mask])]))


_WRONG_LABEL_DTYPE = {
    'dnn': (np.float32, 'Labels dtype should be integer. Instead got '
            "<dtype: 'float32'>"),
    'linear': (np.int64, 'Labels dtype should be string if there is a '
               "vocabulary. Instead got <dtype: 'int64'>"),
    'combined': (np.str_, 'Labels are strings but the head has no '
                 'label_vocabulary'),
    'regressor': (np.str_, 'Regression labels must be numeric. Instead got '
                  "<dtype: 'string'>"),
}


@st.composite
def wrong_label_dtype(draw, family):
  features, labels = draw(_batch(family))
  dtype, wording = _WRONG_LABEL_DTYPE[family]
  return Case(features, np.zeros(labels.shape).astype(dtype),
              Rejected((ValueError,), [wording]))


@st.composite
def non_finite_label(draw, family):
  features, labels = draw(_batch(family))
  value = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
  bad = labels.astype(np.float32)
  mask = _some_positions(draw, bad.shape)
  bad[mask] = value
  if family != 'combined':
    return Case(features, bad, NanLoss())
  wording = ('Labels must be <= n_classes - 1 (n_classes=2)'
             if value == np.inf else 'Labels must be >= 0')
  return Case(features, bad, Rejected((tf.errors.InvalidArgumentError,),
                                      [_assertion_text(wording, bad[mask])]))


@st.composite
def wrong_label_width(draw, family):
  features, labels = draw(_batch(family))
  width = draw(st.integers(2, 4))
  return Case(features, np.repeat(labels, width, axis=1), Rejected(
      (ValueError,), [f'Expected labels dimension=1.  Received {width}']))


@st.composite
def wrong_label_rank(draw, family):
  features, labels = draw(_batch(family))
  inner = draw(st.integers(1, 3))
  bad = np.repeat(labels[:, :, np.newaxis], inner, axis=1)
  return Case(features, bad, Rejected(
      (ValueError,), [f'Labels have shape [None, {inner}, 1], but must be '
                      '[D0, ..., DN, 1] like the logits']))


@st.composite
def rank_1_labels(draw, family):
  features, labels = draw(_batch(family))
  return Case(features, labels[:, 0], SameAs(features, labels))


@st.composite
def missing_labels(draw, family):
  features, _ = draw(_batch(family))
  return Case(features, None, Rejected(
      (ValueError,), ['You must provide a labels Tensor']))


@st.composite
def batch_size_mismatch(draw, family):
  features, labels = draw(_batch(family))
  rows = draw(_ROWS.filter(lambda n: n != len(labels)))
  other = valid_batch(family, rows, draw(_SEEDS))[1]
  return Case(features, other, Rejected(
      (ValueError, tf.errors.InvalidArgumentError), ['batch size']),
              static=draw(st.booleans()))


@st.composite
def empty_batch(draw, family):
  features, labels = draw(_batch(family, rows=0))
  # The engine's check, a head's, or a linear model's SparseReshape of the
  # ids: they run in no fixed order.
  text = ('empty batch', 'labels are empty', 'for an empty tensor')
  return Case(features, labels, Rejected(
      (ValueError, tf.errors.InvalidArgumentError), [text]),
              static=draw(st.booleans()))


# Mistake -> (strategy, families it applies to).
MISTAKES = {
    'missing_feature': (missing_feature, FAMILIES),
    'extra_feature': (extra_feature, FAMILIES),
    'wrong_feature_dtype': (wrong_feature_dtype, FAMILIES),
    'castable_numeric_dtype': (castable_numeric_dtype, FAMILIES),
    'wrong_numeric_size': (wrong_numeric_size, FAMILIES),
    'sparse_numeric': (sparse_numeric, FAMILIES),
    'other_categorical_form': (other_categorical_form, FAMILIES),
    'rank_3_ids': (rank_3_ids, FAMILIES),
    'nan_feature': (nan_feature, ('linear', 'regressor', 'custom')),
    'label_out_of_range': (label_out_of_range, ('dnn', 'combined')),
    'label_not_in_vocabulary': (label_not_in_vocabulary, ('linear',)),
    'wrong_label_dtype': (wrong_label_dtype, CANNED),
    'non_finite_label': (non_finite_label,
                         ('combined', 'regressor', 'custom')),
    'wrong_label_width': (wrong_label_width, CANNED),
    'wrong_label_rank': (wrong_label_rank, CANNED),
    'rank_1_labels': (rank_1_labels, CANNED),
    'missing_labels': (missing_labels, CANNED),
    'batch_size_mismatch': (batch_size_mismatch, CANNED),
    'empty_batch': (empty_batch, FAMILIES),
}


# Every (mistake, family) pair for the slow tier; the fast tier takes one
# family per mistake, in turn, so each mistake and each family is covered.
ALL_PAIRS = [(mistake, family) for mistake, (_, families) in MISTAKES.items()
             for family in families]
FAST_PAIRS = [(mistake, families[i % len(families)])
              for i, (mistake, (_, families)) in enumerate(MISTAKES.items())]


def _run(models, mistake, family, max_examples, derandomize):
  strategy = MISTAKES[mistake][0]

  @settings(max_examples=max_examples, deadline=None, database=None,
            derandomize=derandomize,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink])
  @given(case=strategy(family))
  def run(case):
    check(models(family), case)

  run()
  # Once per run rather than per example (it costs a whole evaluation): any
  # damage a failed call did to the model would persist until here.
  assert_evaluates_as_before(models(family))


@pytest.mark.parametrize('mistake,family', FAST_PAIRS)
def test_mistake(models, mistake, family):
  _run(models, mistake, family, FAST_EXAMPLES, derandomize=True)


@pytest.mark.slow
@pytest.mark.parametrize('mistake,family', ALL_PAIRS)
def test_mistake_many_examples(models, mistake, family):
  _run(models, mistake, family, SLOW_EXAMPLES, derandomize=False)


@pytest.mark.parametrize('family', FAMILIES)
def test_input_without_batches_trains_nothing(models, family):
  model = models(family)
  features, labels = valid_batch(family, rows=3, seed=1)
  before, state_before = _snapshot(model.model_dir), _state(model.model_dir)
  model.estimator.train(input_fn(features, labels, batches=0), steps=1)
  assert_checkpoints_unchanged(model, before, state_before)
  assert_evaluates_as_before(model)


# --- DNN towers on non-finite features, no data, ragged features ------------


@pytest.mark.parametrize('family,value', [('dnn', np.nan),
                                          ('combined', np.inf)])
def test_dnn_rejects_non_finite_numeric_feature(models, family, value):
  model = models(family)
  features, labels = valid_batch(family, rows=3, seed=2)
  features['price'][1, 0] = value
  with pytest.raises((ValueError, tf.errors.InvalidArgumentError),
                     match='price'):
    model.estimator.train(input_fn(features, labels), steps=1)


def test_evaluate_without_batches_is_not_zero(models):
  model = models('dnn')
  features, labels = valid_batch('dnn', rows=3, seed=1)
  fn = input_fn(features, labels, batches=0)
  with pytest.raises(ValueError, match='no'):
    model.estimator.evaluate(fn)


@pytest.mark.parametrize('static', [False, True])
def test_custom_model_fn_empty_batch_is_rejected(models, static):
  model = models('custom')
  features, labels = valid_batch('custom', rows=0, seed=1)
  error = ValueError if static else tf.errors.InvalidArgumentError
  with pytest.raises(error, match='empty batch.*mode eval: feature price'):
    model.evaluate(input_fn(features, labels, static=static))
  with pytest.raises(error, match='empty batch.*mode train'):
    model.estimator.train(input_fn(features, labels, static=static), steps=1)


def test_custom_model_fn_side_tensor_of_other_size_is_not_empty(models):
  """Only a batch whose every batched tensor is empty is refused."""
  model = models('custom')
  features, labels = valid_batch('custom', rows=3, seed=1)
  features['side'] = np.zeros([0], np.float32)
  assert np.isfinite(model.evaluate(input_fn(features, labels))['loss'])


def test_failed_train_leaves_checkpoint_state_file_byte_identical(models):
  model = models('dnn')
  features, labels = valid_batch('dnn', rows=3, seed=3)
  before = _snapshot(model.model_dir)
  with pytest.raises(tf.errors.InvalidArgumentError):
    model.estimator.train(input_fn(features, labels + 5), steps=1)
  assert _snapshot(model.model_dir) == before


def test_ragged_feature_error_names_the_key(models):
  model = models('dnn')
  features, labels = valid_batch('dnn', rows=2, seed=4)
  features['price'] = Ragged(((1., 2.), (3.,)))
  with pytest.raises((ValueError, TypeError), match="'price'"):
    model.estimator.train(input_fn(features, labels), steps=1)


@pytest.mark.parametrize('static', [False, True])
def test_features_of_different_batch_sizes_name_the_key(models, static):
  model = models('dnn')
  features, labels = valid_batch('dnn', rows=3, seed=5)
  features['tint'] = features['tint'][:2]
  error = ValueError if static else tf.errors.InvalidArgumentError
  with pytest.raises(error, match='same batch size') as raised:
    model.estimator.train(input_fn(features, labels, static=static), steps=1)
  # Static sizes are listed per key; run-time sizes as one vector in key order.
  sizes = ('feature price: 3, feature shop: 3, feature tint: 2, labels: 3' if static
           else '(feature price, feature shop, feature tint, labels):] [3 3 2 3]')
  assert sizes in str(raised.value)
