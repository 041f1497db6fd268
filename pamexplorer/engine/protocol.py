"""JSON lines over a unix socket: the only way front ends and engine children talk.

Requests (front end -> child): ``start``, ``call``, ``set_item``, ``get_item``, ``putenv``,
``end``, and ``answers`` to a conversation. Events (child -> front end): ``conversation``,
``record`` (a ``CallRecord``), ``value`` (a reply to an item or env request), ``error``.
The module's stdout and stderr travel on a separate pipe and are never parsed as protocol.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

Frame = dict[str, Any]

#: One frame may hold hundreds of 64 KiB prompts; anything larger is a broken peer.
MAX_FRAME = 64 * 1024 * 1024


class ChannelClosed(Exception):
    """The peer closed its end (for the front end: the child died or exited)."""


class Channel:
    """Frames over one connected stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, frame: Frame) -> None:
        data = json.dumps(frame, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as err:
            raise ChannelClosed(str(err)) from None

    def pending(self) -> Frame | None:
        """A complete frame already buffered, without reading the socket."""
        end = self._buffer.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        parsed: Frame = json.loads(line)
        return parsed

    def feed(self) -> None:
        """Read what is available (the socket must be readable); EOF raises ChannelClosed."""
        try:
            chunk = self.sock.recv(1 << 16)
        except (ConnectionResetError, OSError) as err:
            raise ChannelClosed(str(err)) from None
        if not chunk:
            raise ChannelClosed("end of stream")
        self._buffer.extend(chunk)
        if len(self._buffer) > MAX_FRAME:
            raise ChannelClosed("frame too large")

    def receive(self) -> Frame:
        """Block until one frame arrives."""
        while True:
            frame = self.pending()
            if frame is not None:
                return frame
            self.feed()

    def close(self) -> None:
        self.sock.close()


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
