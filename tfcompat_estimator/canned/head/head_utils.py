"""2.15's `head/head_utils.py`: the classifier head choice, and test helpers.

`binary_or_multi_class_head` is what the v2 canned classifiers build. The
underscored helpers are the ones 2.15 kept here for tests of heads (its own
and libraries' built on it): they check a head's `EstimatorSpec` in a TF1
session.
"""

import tensorflow as tf

from tfcompat_estimator.canned.head import base_head
from tfcompat_estimator.canned.head import binary_class_head
from tfcompat_estimator.canned.head import multi_class_head

_DEFAULT_SERVING_KEY = base_head.DEFAULT_SERVING_KEY  # 2.15's tests read it


def binary_or_multi_class_head(n_classes, weight_column, label_vocabulary,
                               loss_reduction):
  """The head of a v2 canned classifier: binary for 2 classes, else multi-class.

  Args:
    n_classes: number of label classes.
    weight_column: the example weights' key or `NumericColumn`, or None.
    label_vocabulary: strings the labels take, or None for class ids.
    loss_reduction: a `tf.losses.Reduction` other than NONE.

  Returns:
    A `BinaryClassHead` or `MultiClassHead`.
  """
  if n_classes == 2:
    return binary_class_head.BinaryClassHead(
        weight_column=weight_column, label_vocabulary=label_vocabulary,
        loss_reduction=loss_reduction)
  return multi_class_head.MultiClassHead(
      n_classes, weight_column=weight_column,
      label_vocabulary=label_vocabulary, loss_reduction=loss_reduction)


def _initialize_variables(test_case, scaffold):
  """Runs a finalized Scaffold's init ops in the test's default session."""
  scaffold.finalize()
  test_case.assertIsNone(scaffold.init_feed_dict)
  test_case.assertIsNone(scaffold.init_fn)
  scaffold.init_op.run()
  scaffold.ready_for_local_init_op.eval()
  scaffold.local_init_op.run()
  scaffold.ready_op.eval()
  test_case.assertIsNotNone(scaffold.saver)


def _assert_simple_summaries(test_case, expected_summaries, summary_str,
                             tol=1e-6):
  """Asserts a serialized Summary holds `expected_summaries` (tag -> value)."""
  summary = tf.compat.v1.summary.Summary()
  summary.ParseFromString(summary_str)
  test_case.assertAllClose(
      expected_summaries, {v.tag: v.simple_value for v in summary.value},
      rtol=tol, atol=tol)


def _assert_no_hooks(test_case, spec):
  test_case.assertAllEqual([], spec.training_chief_hooks)
  test_case.assertAllEqual([], spec.training_hooks)
