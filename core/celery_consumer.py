"""The worker's message consumer: Celery's, with a task's ack sent at once.

Celery hands an ack (``acks_late``) to its event loop's ready list, which the
loop runs before it next waits on the broker's socket. But a pool that runs
tasks in the loop itself (``--pool=solo``, what ``make run`` starts) finishes a
task, and queues its ack, from inside a callback that the loop runs just before
that wait. The wait then starts with the ack not sent; the broker, whose
prefetch window is full of unacknowledged messages, sends nothing to end it;
and the worker sits idle until the loop's longest timer, about ten seconds,
with messages ready in the queue. (kombu's hub, see celery/celery#7718.)

Sending the ack when it is asked for, from the loop's own thread, removes that
wait. It is what Celery already does when it runs without the event loop.
Acks asked for from any other thread (a task of ``--pool=threads``) still go
through the ready list, which wakes the loop for them.
"""

from __future__ import annotations

import threading
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from vine import ppartial


class Consumer(CeleryConsumer):
    """Celery's consumer, whose acks and rejects are written as soon as they are asked for."""

    _loop_thread: int | None = None

    def start(self) -> None:
        """Consume messages; the thread that runs the loop is the one calling this."""
        self._loop_thread = threading.get_ident()
        super().start()

    def call_soon_ack(self, p: Any, *args: Any, **kwargs: Any) -> Any:
        """Ack or reject now when on the loop's thread; from any other, leave it to the loop."""
        if self.hub is None or threading.get_ident() != self._loop_thread:
            return super().call_soon_ack(p, *args, **kwargs)
        ack = ppartial(p, *args, **kwargs)
        try:
            ack()
        except Exception as exc:
            # Raised from the loop's next turn, as a deferred ack's error would be,
            # so that a connection lost under it is opened again.
            self.hub.call_soon(_raise, exc)
        return ack


def _raise(exc: BaseException) -> None:
    raise exc
