"""The worker's consumer sends an ack when it is asked for, from the event loop's thread."""

from __future__ import annotations

import functools
import socket
import threading
from typing import Any

import pytest
from celery.utils.imports import symbol_by_name
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.asynchronous import Hub as KombuHub

from config.celery import app
from core.celery_consumer import Consumer


class Hub:
    """Records what is left for the event loop's next turn."""

    def __init__(self) -> None:
        self.ready: list[Any] = []

    def call_soon(self, callback: Any, *args: Any) -> Any:
        self.ready.append(functools.partial(callback, *args))
        return callback


def consumer_on_this_thread(hub: Hub | None) -> Consumer:
    # Only what call_soon_ack reads: a real Consumer needs a worker around it.
    consumer = Consumer.__new__(Consumer)
    consumer.hub = hub
    consumer._loop_thread = threading.get_ident()
    return consumer


def test_the_workers_use_this_consumer():
    assert symbol_by_name(app.conf.worker_consumer) is Consumer


def test_the_consumer_knows_the_thread_that_runs_its_loop(monkeypatch):
    consumer = Consumer.__new__(Consumer)
    seen: list[int | None] = []
    # Celery's start() runs the loop, and its reconnections, on the calling thread.
    monkeypatch.setattr(CeleryConsumer, "start", lambda self: seen.append(self._loop_thread))

    thread = threading.Thread(target=consumer.start)
    thread.start()
    thread.join()

    assert seen == [thread.ident]


def test_a_task_run_by_the_loop_is_acked_before_the_loop_waits_on_the_broker():
    """The stall itself: a solo-pool task runs from the loop's ready list, then the loop waits."""
    hub = KombuHub()
    events: list[str] = []
    consumer = Consumer.__new__(Consumer)
    consumer.hub = hub
    consumer._loop_thread = threading.get_ident()

    def poll(timeout: float) -> list[Any]:
        events.append("wait")
        return []

    hub.poller.poll = poll
    broker, _ = socket.socketpair()
    hub.add_reader(broker, lambda: None)  # a connection the loop waits on
    # What kombu's reader does with a message: run the task (solo), whose end acks it.
    hub.call_soon(lambda: consumer.call_soon_ack(events.append, "ack"))
    try:
        next(hub.create_loop())
    finally:
        hub.close()
        broker.close()

    # Left to the loop's ready list, the ack would come after this wait: up to
    # ten seconds, with the broker sending nothing while it waits for the ack.
    assert events == ["ack", "wait"]


def test_an_ack_that_fails_is_raised_from_the_loop_as_a_deferred_one_would_be():
    hub = Hub()
    consumer = consumer_on_this_thread(hub)

    def broken_pipe() -> None:
        raise BrokenPipeError("connection lost")

    consumer.call_soon_ack(broken_pipe)

    assert len(hub.ready) == 1
    with pytest.raises(BrokenPipeError):
        hub.ready[0]()


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
