"""Dropping a finished call's tf.data iterator without waiting for TF.

Destroying an iterator stops the autotuning thread tf.data runs beside it
and waits for that thread to end. In TF 2.21 the thread can miss the stop:
woken by the cancellation before the cancellation is recorded, it goes back
to sleep for the rest of its optimization period, which doubles while the
iterator lives (up to a minute). Dropped by the call that used it, the
iterator then held the call for that long after its last step, the process
idle: train() returned up to 35 s late on TensorFlow's TF1 MNIST layers
tutorial, in 7 of 10 runs of a 26 s train() (measured on 2 cores).
Switching autotuning off removed the wait but cost 5-10% of the training
rate, so the iterator is instead handed to a daemon thread, which drops it
and waits out the sleep without holding the GIL.
"""

import queue
import threading

_dropped = queue.SimpleQueue()
_thread_lock = threading.Lock()
_thread = None


def release(iterator):
  """Drops `iterator` on a background thread; the caller must hold no other reference."""
  global _thread
  with _thread_lock:
    if _thread is None:
      _thread = threading.Thread(target=_drop_forever, daemon=True,
                                 name='tfcompat_iterator_release')
      _thread.start()
  _dropped.put(iterator)


def _drop_forever():
  while True:
    iterator = _dropped.get()
    del iterator  # its destructor runs (and may wait) here
