"""The file-system broker of `make run` and the tests: a message is whole or invisible."""

from __future__ import annotations

import os

import kombu
import pytest

import core.filesystem_broker


@pytest.fixture
def connection(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    with kombu.Connection("filesystem://", transport_options=options) as connection:
        yield connection, folder


def messages(folder) -> list[str]:
    """What a worker polling the folder would pick up for the queue ``jobs``."""
    return [name for name in os.listdir(folder) if name.partition(".")[2] == "jobs.msg"]


def test_filesystem_urls_take_the_transport_that_writes_messages_whole(connection):
    channel = connection[0].default_channel

    assert isinstance(channel, core.filesystem_broker.Channel)


def test_a_message_is_not_in_the_queue_folder_until_it_is_written_whole(connection, monkeypatch):
    connection, folder = connection
    seen_while_writing: list[list[str]] = []
    encode = core.filesystem_broker.str_to_bytes

    def watched(text):
        # kombu's own transport created the message's file empty before this
        # point: a worker listing the folder now would move it away and read b"".
        seen_while_writing.append(messages(folder))
        return encode(text)

    monkeypatch.setattr(core.filesystem_broker, "str_to_bytes", watched)
    queue = kombu.Queue("jobs", routing_key="jobs")
    with connection.Producer() as producer:
        producer.publish({"n": 1}, routing_key="jobs", declare=[queue])

    assert seen_while_writing == [[]]
    assert len(messages(folder)) == 1
    assert not [name for name in os.listdir(folder) if name.endswith(".part")]
    with connection.SimpleQueue(queue) as simple:
        assert simple.get(timeout=1).payload == {"n": 1}
