"""Shared test set-up: legacy import paths and the 2.15 golden programs."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_ROOT = os.path.join(ROOT, 'third_party', 'tensorflow_estimator_2_15')
sys.path.insert(0, GOLDEN_ROOT)  # makes `programs.custom_dnn` importable

import tfcompat_estimator  # pylint: disable=wrong-import-position

tfcompat_estimator.install()


def pytest_configure(config):
  config.addinivalue_line('markers', 'slow: long-running tier, run with --slow')


@pytest.fixture
def golden_dir():
  return os.path.join(GOLDEN_ROOT, 'golden', 'custom_dnn')
