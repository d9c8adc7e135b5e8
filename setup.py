"""tfcompat_estimator: tf.estimator for TensorFlow 2.16+."""

import setuptools

setuptools.setup(
    name='tfcompat_estimator',
    version='0.1.0',
    description='Runs legacy tf.estimator code unchanged on current TensorFlow 2.',
    packages=setuptools.find_packages(include=['tfcompat_estimator', 'tfcompat_estimator.*']),
    python_requires='>=3.11',
    # Tested on TensorFlow 2.21; 2.16 is the first release without tf.estimator.
    install_requires=[
        'tensorflow>=2.16,<2.22',
        'tf-keras>=2.16,<2.22',
        'numpy',
        'absl-py',
    ],
    extras_require={
        'test': [
            'pytest',
            'hypothesis',
            'pandas',
            'tensorflow-serving-api>=2.16,<2.22',
            # TF1 hub.Module / text_embedding_column idioms (tests/keras/test_tf_hub.py)
            'tensorflow-hub==0.15.0',
            # Free loopback ports for parameter-server clusters
            # (tests/helpers/cluster_launcher.py).
            'portpicker',
            # The fast tier runs its files on two workers (scripts/test.sh).
            'pytest-xdist',
        ],
        # bench/canned_accuracy.py: small real data sets bundled with it.
        'bench': ['scikit-learn'],
    },
)
