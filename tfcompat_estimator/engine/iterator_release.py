"""Dropping a finished call's tf.data iterator without waiting for TF.

Destroying an iterator stops the autotuning thread tf.data runs beside it
and waits for that thread to end. In TF 2.21 the thread can miss the stop:
woken by the cancellation before the cancellation is recorded, it goes back
to sleep for the rest of its optimization period, which starts at 10 ms and
doubles at each wake-up (up to a minute), so the wait can last about as
long as the iterator has lived. Dropped by the call that used it, the
iterator then held train() up to 35 s after its last step, the process
idle, on TensorFlow's TF1 MNIST layers tutorial (7 of 10 runs of a 26 s
train(), measured on 2 cores); an input graph run step by step, whose
one-shot iterators are eager ones too (`input_graph`), 3.2 s after a
5,000-step train() (cloudml-samples' census input). Switching autotuning off removed the wait
but cost 5-10% of the training rate.

So an iterator that lived long enough for the wait to matter is handed to a
daemon thread, which drops it and waits out the sleep without the GIL. That
moves the wait rather than removing it: a process that ends while the thread
waits exits only when the wait is over (7.55 s after an 8,000-step train(),
1 of 4 runs); a program that goes on (evaluates, exports) does so meanwhile. A
young one (a predict() or a short evaluate()) is dropped at once: its wait
is as short as its life, and handing each one off would keep the threads
and buffers of several iterators alive at a time. Nor is one handed off
while the interpreter finalizes: a predict() generator a program left open
(NVIDIA's Wide&Deep breaks out of it after `eval_steps` batches) is closed
then if an uncaught error kept its frame alive, and a thread started at
that point never runs: `Thread.start()` waited for it forever, and the
process hung after printing the traceback (until killed, 10 minutes).

The thread may take an iterator off the queue before release() has
returned, while the caller's frame still holds it; dropped then, the last
reference would be the caller's and the wait would land on the caller
after all (a test saw release() take the full 1 s of a slow destructor).
So the thread first waits, briefly, to hold the only reference.
"""

import queue
import sys
import threading
import time

# Iterators that lived longer than this are dropped in the background.
_BACKGROUND_AFTER_SECS = 0.1
# How long the thread waits for the caller to let go of an iterator.
_HANDOVER_SECS = 1.0

_dropped = queue.SimpleQueue()
_thread_lock = threading.Lock()
_thread = None


def release(iterator, created):
  """Drops `iterator`; the caller must hold no other reference to it.

  Args:
    iterator: The iterator of a finished call.
    created: When it was made, by `time.monotonic()`.
  """
  if (time.monotonic() - created < _BACKGROUND_AFTER_SECS or
      sys.is_finalizing()):
    return  # the caller's reference was the last: it goes now
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
    handover = time.monotonic() + _HANDOVER_SECS
    # Two references: `iterator` and getrefcount's own argument.
    while sys.getrefcount(iterator) > 2 and time.monotonic() < handover:
      time.sleep(0.001)
    del iterator  # its destructor runs (and may wait) here
