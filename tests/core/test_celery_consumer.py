"""The worker's consumer sends an ack when it is asked for, from the event loop's thread."""

from __future__ import annotations

import threading
from typing import Any

from celery.utils.imports import symbol_by_name

from config.celery import app
from core.celery_consumer import Consumer


class Hub:
    """Records what is left for the event loop's next turn."""

    def __init__(self) -> None:
        self.ready: list[Any] = []

    def call_soon(self, callback: Any) -> Any:
        self.ready.append(callback)
        return callback


def consumer_on_this_thread(hub: Hub | None) -> Consumer:
    # Only what call_soon_ack reads: a real Consumer needs a worker around it.
    consumer = Consumer.__new__(Consumer)
    consumer.hub = hub
    consumer._loop_thread = threading.get_ident()
    return consumer


def test_the_workers_use_this_consumer():
    assert symbol_by_name(app.conf.worker_consumer) is Consumer


def test_an_ack_asked_for_on_the_loops_thread_is_written_at_once():
    hub = Hub()
    consumer = consumer_on_this_thread(hub)
    written: list[tuple[str, int]] = []

    consumer.call_soon_ack(lambda logger, tag: written.append((logger, tag)), "log", 7)

    # Not left for the loop's next turn, which may come only after its next wait.
    assert written == [("log", 7)]
    assert hub.ready == []


def test_an_ack_asked_for_by_a_pool_thread_is_left_to_the_loop():
    hub = Hub()
    consumer = consumer_on_this_thread(hub)
    written: list[str] = []

    thread = threading.Thread(target=consumer.call_soon_ack, args=(written.append, "ack"))
    thread.start()
    thread.join()

    # Two threads must not write to the broker's socket at once: the loop sends it.
    assert written == []
    assert len(hub.ready) == 1
    hub.ready[0]()
    assert written == ["ack"]


def test_without_an_event_loop_the_ack_is_written_at_once_as_celery_does():
    consumer = consumer_on_this_thread(None)
    consumer._pending_operations = []
    written: list[str] = []

    consumer.call_soon_ack(written.append, "ack")

    assert written == ["ack"]
