"""Canned estimators and heads, as in tf.estimator 2.15.

Modules keep the 2.15 layout (`dnn`, `linear`, `dnn_linear_combined`,
`baseline`, `rnn`, `head/`) and class names (`DNNClassifier` is the v1 class,
`DNNClassifierV2` the one exported as `tf.estimator.DNNClassifier`), so deep
imports of `tensorflow_estimator.python.estimator.canned.*` find the same names.
"""
