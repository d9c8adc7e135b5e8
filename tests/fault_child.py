"""Child process for the SIGKILL tests: trains and reports each checkpoint."""

import sys

import conftest  # pylint: disable=unused-import  (install() + golden paths)
import tensorflow as tf
from programs import custom_dnn


class Announce(tf.estimator.CheckpointSaverListener):

  def after_save(self, session, global_step_value):
    print(f'saved {global_step_value}', flush=True)


def main(model_dir, max_steps):
  config = dict(custom_dnn.RUN_CONFIG_KWARGS, save_checkpoints_steps=10)
  est = tf.estimator.Estimator(custom_dnn.model_fn, model_dir=model_dir,
                               params=custom_dnn.PARAMS,
                               config=tf.estimator.RunConfig(**config))
  est.train(custom_dnn.train_input_fn, max_steps=int(max_steps),
            hooks=[tf.estimator.SessionRunHook()],  # one step per call: slower, easier to hit
            saving_listeners=[Announce()])


if __name__ == '__main__':
  main(*sys.argv[1:])
