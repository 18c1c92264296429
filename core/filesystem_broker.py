"""kombu's file-system broker, with messages written whole before a worker can see them.

kombu creates a message's file and only then writes it. A worker polling the
folder can move the file away in between and read it empty: the worker dies on
``JSONDecodeError`` and the message is lost. Here a message is written under a
name no worker picks up, then renamed into place, which is atomic on one file
system: a worker sees either no file or the whole message.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# Workers take only names ending in ".<queue>.msg"; this suffix keeps a message
# out of their sight until it is whole.
_PARTIAL = ".part"


class Channel(filesystem.Channel):
    """A channel whose messages appear in the queue folder complete or not at all."""

    # kombu's own file-system channel names the base class's `message` `payload`,
    # so no signature matches both of its supertypes.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Write the message beside the queue, then rename it into the queue."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + _PARTIAL
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """The file-system transport, with ``Channel`` above."""

    Channel = Channel
