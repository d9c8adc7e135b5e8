"""`estimator_export`, for projects that vendored tf.estimator modules.

Attribute names, values and the deprecation notice are 2.15's (measured with
tensorflow-estimator 2.15.0 on TF 2.15.1 for the same calls).
"""

import sys

import pytest
from tensorflow.python.platform import tf_logging as logging
from tensorflow.python.util import tf_export

from tfcompat_estimator.estimator_export import estimator_export

SOME_CONSTANT = 3


def test_records_names_and_warns_once(monkeypatch):
  warnings = []
  monkeypatch.setattr(logging, 'warning',
                      lambda *args, **kwargs: warnings.append(args))

  @estimator_export('estimator.Foo', v1=['estimator.Foo', 'estimator.OldFoo'])
  class Foo:
    pass

  assert Foo.__dict__['_estimator_api_names'] == ('estimator.Foo',)
  assert Foo.__dict__['_estimator_api_names_v1'] == ['estimator.Foo',
                                                     'estimator.OldFoo']
  Foo()
  Foo()
  assert len(warnings) == 1 and 'Use tf.keras instead.' in warnings[0][-1]


def test_export_constant_records_on_the_module():
  estimator_export('estimator.consts.C').export_constant(__name__,
                                                         'SOME_CONSTANT')
  module = sys.modules[__name__]
  assert module._estimator_api_constants == [(('estimator.consts.C',),
                                              'SOME_CONSTANT')]
  assert module._estimator_api_constants_v1 == [(('estimator.consts.C',),
                                                 'SOME_CONSTANT')]


def test_names_outside_estimator_are_refused():
  with pytest.raises(tf_export.InvalidSymbolNameError, match='estimator'):
    estimator_export('tf.Foo')


def test_legacy_path():
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  from tensorflow_estimator.python.estimator import estimator_export as legacy  # pylint: disable=g-import-not-at-top
  assert legacy.estimator_export is estimator_export
