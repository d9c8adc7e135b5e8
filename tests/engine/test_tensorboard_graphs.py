"""TensorBoard's Graphs tab shows the model a TF1 program trained (slow tier).

A TF1-mode program trains a canned DNNClassifier; TensorBoard 2.21 serves its
model_dir, and headless Chromium takes a screenshot of the Graphs tab. The
same is done for an empty logdir, whose tab says "No graph definition files
were found." The model's screenshot must show a rendered graph: namespace
boxes (light gray fills) and nodes in several colours, which the empty
page's text and links do not have. TensorBoard's own graph endpoint (what the
tab draws) must hold the model's variables.

Needs `scripts/browser_test_deps.sh` (`scripts/test.sh --slow` runs it).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow

CHROMIUM = '/usr/bin/chromium'
TRAIN_TF1_PROGRAM = '''
import sys
import tfcompat_estimator
tfcompat_estimator.install()
import numpy as np
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()
x = np.random.RandomState(0).rand(64, 4).astype(np.float32)
y = (x.sum(1) > 2).astype(np.int32)
est = tf.estimator.DNNClassifier(
    [8], [tf.feature_column.numeric_column('x', shape=[4])],
    model_dir=sys.argv[1])
est.train(tf.estimator.inputs.numpy_input_fn(
    {'x': x}, y, batch_size=16, num_epochs=1, shuffle=False))
'''


@pytest.fixture(scope='module')
def tensorboard_binary():
  venv = os.environ.get('TENSORBOARD_VENV',
                        os.path.expanduser('~/.cache/tfcompat/tensorboard'))
  binary = os.path.join(venv, 'bin', 'tensorboard')
  if not (os.path.exists(binary) and os.path.exists(CHROMIUM)):
    pytest.skip('needs TensorBoard and Chromium: run '
                'scripts/browser_test_deps.sh')
  return binary


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _get(url):
  with urllib.request.urlopen(url, timeout=10) as response:
    return response.read().decode()


def _serve(binary, logdir):
  """Starts TensorBoard on `logdir`; returns (process, base URL) once it has
  loaded the run (or, for an empty logdir, answers)."""
  port = _free_port()
  process = subprocess.Popen(
      [binary, '--logdir', str(logdir), '--port', str(port),
       '--host', '127.0.0.1', '--reload_interval', '1'],
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  base = f'http://127.0.0.1:{port}'
  deadline = time.time() + 60
  while time.time() < deadline:
    try:
      info = _get(base + '/data/plugin/graphs/info')
      if '"run_graph": true' in info or not os.listdir(logdir):
        return process, base
    except OSError:
      pass
    time.sleep(0.5)
  process.kill()
  raise AssertionError(f'TensorBoard did not load {logdir} in 60 s')


def _screenshot(url, path, profile):
  subprocess.run(
      [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
       '--disable-quic', '--no-first-run', '--disable-background-networking',
       '--disable-component-update', '--disable-sync',
       f'--user-data-dir={profile}', '--window-size=1400,1000',
       '--virtual-time-budget=15000', f'--screenshot={path}', url],
      check=True, capture_output=True, timeout=120)
  return tf.io.decode_png(tf.io.read_file(str(path)), channels=3).numpy()


def _graph_pixels(image):
  """(colour hues with many pixels, share of light-gray fill) right of the
  sidebar, where the tab draws the graph or its message."""
  height, width, _ = image.shape
  region = image[int(height * 0.08):, int(width * 0.25):] / 255.
  hsv = tf.image.rgb_to_hsv(region).numpy()
  coloured = (hsv[..., 1] > 0.15) & (hsv[..., 2] > 0.5)
  hues = np.bincount((hsv[..., 0][coloured] * 12).astype(int), minlength=13)
  gray = ((np.abs(region[..., 0] - region[..., 1]) < 0.02) &
          (region[..., 0] > 0.75) & (region[..., 0] < 0.95))
  return int((hues > 300).sum()), float(gray.mean())


def test_graphs_tab_draws_the_trained_model(tensorboard_binary, tmp_path):
  model_dir, empty = tmp_path / 'model_dir', tmp_path / 'empty'
  empty.mkdir()
  subprocess.run([sys.executable, '-c', TRAIN_TF1_PROGRAM, str(model_dir)],
                 check=True, capture_output=True, timeout=600,
                 env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  shots = {}
  for name, logdir in (('model', model_dir), ('empty', empty)):
    process, base = _serve(tensorboard_binary, logdir)
    try:
      if name == 'model':
        served = _get(base + '/data/plugin/graphs/graph?run=.&conceptual=false')
        assert 'name: "dnn/hiddenlayer_0/kernel/part_0"' in served
        assert 'name: "dnn/logits/bias/part_0"' in served
      shots[name] = _screenshot(base + '/#graphs', tmp_path / f'{name}.png',
                                tmp_path / f'profile_{name}')
    finally:
      process.kill()
      process.wait()
  model_hues, model_gray = _graph_pixels(shots['model'])
  empty_hues, empty_gray = _graph_pixels(shots['empty'])
  # Measured: the model 7 hues and 2% gray fill; the empty tab 2 (its blue
  # links) and 0.4%.
  assert model_hues >= empty_hues + 3, (model_hues, empty_hues)
  assert model_gray > 3 * empty_gray, (model_gray, empty_gray)
