"""Legacy tf.estimator-style programs used to produce/compare golden artifacts."""
