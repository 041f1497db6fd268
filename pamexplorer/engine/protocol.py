"""The engine's two channels; every frame either side may send is declared here, once.

**Front end <-> engine child** (a stream socket; fd 3 in the child). Each frame is a header,
:data:`HEADER` (payload length, sequence number, HMAC-SHA256), then the payload: one JSON
object. The MAC covers the direction, the sequence number and the payload, under a key the
front end draws for each child and sends as the very first frame (:class:`Hello`, before any
module is loaded). Modules run inside the child and can write to fd 3; what they write does not
carry a valid MAC for the next sequence number, so the front end refuses it
(:class:`ChannelTampered`): a result comes only from the engine's own code, and a forged,
replayed, garbled or oversized frame ends the transaction instead of shifting replies.
(A module written against pamexplorer's internals could dig the key out of the child's memory;
the channel guards against module code writing to a descriptor, not against a debugger.)

Requests (front end -> child): :class:`Hello`, :class:`StartRequest`, :class:`CallRequest`,
:class:`SetItemRequest`, :class:`GetItemRequest`, :class:`PutenvRequest`, :class:`EndRequest`,
and :class:`AnswersReply` to a conversation. Events (child -> front end):
:class:`ConversationEvent`, :class:`RecordEvent` (a ``CallRecord`` as a dict),
:class:`ValueEvent` (the reply to an item or environment request), :class:`ErrorEvent`.
The module's stdout and stderr travel on a separate pipe and are never parsed; the trace's
events, as modules run, go to the flight recorder, a memfd the front end reads as each record
arrives and after a crash (``engine.trace.collect``).

**Front end <-> fork server** (a ``SOCK_SEQPACKET`` socket: one JSON object per packet, file
descriptors attached with ``SCM_RIGHTS``). :class:`SpawnRequest` carries the child's protocol
socket, the write end of its output pipe and its flight recorder; the server answers
:class:`Spawned` with a pidfd of the new child attached, and sends :class:`Exited` whenever a
child ends. No module ever runs in the fork server, and its children close the control socket
before anything else runs.
"""

from __future__ import annotations

import array
import importlib
import json
import os
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any, Literal, NotRequired, Protocol, TypedDict

#: A received frame, before the reader looks at its discriminating key.
Frame = dict[str, Any]

# -- front end -> child --------------------------------------------------------------------


class Hello(TypedDict):
    """The first frame on every child channel: the key every later frame is signed with."""

    op: Literal["hello"]
    key: str  # hex


class StartRequest(TypedDict):
    op: Literal["start"]
    service: str
    user: str | None
    confdir: str | None
    items: dict[str, str]
    env: dict[str, str]
    #: Trace the modules (default true); the child assembles each record's trace itself
    #: unless ``assemble`` is false (then the front end does, from the events each record
    #: carries).
    trace: NotRequired[bool]
    assemble: NotRequired[bool]


class CallRequest(TypedDict):
    op: Literal["call"]
    function: str  # a ``Function`` value, e.g. "pam_authenticate"
    flags: int


class SetItemRequest(TypedDict):
    op: Literal["set_item"]
    item: str
    value: str


class GetItemRequest(TypedDict):
    op: Literal["get_item"]
    item: str


class PutenvRequest(TypedDict):
    op: Literal["putenv"]
    entry: str


class EndRequest(TypedDict):
    op: Literal["end"]


class AnswersReply(TypedDict):
    """The front end's reply to a :class:`ConversationEvent`; ``abort`` refuses the prompts
    (the module gets ``PAM_CONV_ERR``)."""

    op: Literal["answers"]
    answers: list[str | None]
    abort: bool


Request = (
    Hello
    | StartRequest
    | CallRequest
    | SetItemRequest
    | GetItemRequest
    | PutenvRequest
    | EndRequest
    | AnswersReply
)

# -- child -> front end --------------------------------------------------------------------


class MessageFrame(TypedDict):
    style: str  # a ``MessageStyle`` name
    text: str


class ConversationEvent(TypedDict):
    event: Literal["conversation"]
    messages: list[MessageFrame]


class RecordEvent(TypedDict):
    event: Literal["record"]
    record: dict[str, Any]  # ``CallRecord.to_dict()``
    #: A tracing child: the call's trace events (JSON arrays as text; see
    #: ``TracedTransaction.record_events``), and why there is no trace ("" when there is one).
    trace_events: NotRequired[str]
    trace_unavailable: NotRequired[str]


class ValueEvent(TypedDict):
    event: Literal["value"]
    value: str | int | None


class ErrorEvent(TypedDict):
    event: Literal["error"]
    message: str


Event = ConversationEvent | RecordEvent | ValueEvent | ErrorEvent

# -- front end <-> fork server -------------------------------------------------------------


class SpawnRequest(TypedDict):
    """Attached: the child's protocol socket, the write end of its output pipe."""

    op: Literal["spawn"]


class Spawned(TypedDict):
    """Attached: a pidfd of the new child (its death is seen without waiting for EOF)."""

    pid: int


class Exited(TypedDict):
    exit: int  # the pid
    status: int  # the raw wait status


ServerEvent = Spawned | Exited

# -- the child channel ---------------------------------------------------------------------

#: Payload length, sequence number, HMAC-SHA256 of (direction, sequence number, payload).
HEADER = struct.Struct("!IQ32s")
#: One frame may hold hundreds of 64 KiB prompts; anything larger is a broken or lying peer.
MAX_FRAME = 64 * 1024 * 1024
KEY_BYTES = 32
#: Direction labels under the MAC: a frame is valid one way only.
TO_CHILD = b"pamexplorer request"
TO_FRONT_END = b"pamexplorer event"
_RECV_SIZE = 1 << 18


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def copy(self) -> _Hash: ...

    def digest(self) -> bytes: ...


def _find_sha256() -> Callable[[bytes], _Hash]:
    """SHA-256 from the interpreter's own module: ``hashlib`` (and ``hmac`` and ``secrets``
    on top of it) loads OpenSSL, some 6 ms of every one-shot ``call``. Python 3.12 renamed
    the module; hashlib is the last resort."""
    for name in ("_sha256", "_sha2"):
        try:
            found: Callable[[bytes], _Hash] = importlib.import_module(name).sha256
            return found
        except (ImportError, AttributeError):
            continue
    from hashlib import sha256

    return sha256


_sha256 = _find_sha256()


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one key, its padded states computed once."""

    BLOCK = 64

    def __init__(self, key: bytes) -> None:
        sha256 = _sha256
        if len(key) > self.BLOCK:
            key = sha256(key).digest()
        key = key.ljust(self.BLOCK, b"\0")
        self._inner = sha256(bytes(b ^ 0x36 for b in key))
        self._outer = sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, *parts: bytes) -> bytes:
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class ChannelClosed(Exception):
    """The peer closed its end (for the front end: the child died or exited)."""


class ChannelTampered(Exception):
    """A frame failed authentication: something other than the engine wrote to the channel."""


class Channel:
    """Signed, sequenced frames over one connected stream socket."""

    def __init__(self, sock: socket.socket, sending: bytes, receiving: bytes) -> None:
        self.sock = sock
        self.key = b""  # until the hello
        self._sending = sending
        self._receiving = receiving
        self._send_seq = 0
        self._recv_seq = 0
        self._buffer = bytearray()
        #: The peer closed its end (frames already buffered may still be read).
        self.eof = False

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def key(self) -> bytes:
        return self._key

    @key.setter
    def key(self, key: bytes) -> None:
        self._key = key
        self._hmac = HmacSha256(key)

    def _mac(self, label: bytes, seq: int, payload: bytes) -> bytes:
        return self._hmac.digest(label, seq.to_bytes(8, "big"), payload)

    def send(self, frame: Request | Event) -> None:
        payload = json.dumps(frame, separators=(",", ":")).encode("utf-8")
        seq = self._send_seq
        self._send_seq += 1
        header = HEADER.pack(len(payload), seq, self._mac(self._sending, seq, payload))
        try:
            self.sock.sendall(header + payload)
        except (BrokenPipeError, ConnectionResetError) as err:
            raise ChannelClosed(str(err)) from None

    def pending(self) -> Frame | None:
        """A complete, authentic frame already buffered, without reading the socket.

        Raises :class:`ChannelTampered` for anything else: a bad MAC, a sequence number out of
        turn (a replay), an oversized length, a payload that is not a JSON object."""
        if len(self._buffer) < HEADER.size:
            return None
        length, seq, mac = HEADER.unpack_from(self._buffer)
        if length > MAX_FRAME:
            raise ChannelTampered(f"a frame of {length} bytes")
        if seq != self._recv_seq:
            raise ChannelTampered(f"frame {seq} where {self._recv_seq} was due")
        end = HEADER.size + length
        if len(self._buffer) < end:
            return None
        payload = bytes(memoryview(self._buffer)[HEADER.size : end])
        # One failed check ends the channel for good: there is no oracle to time, so a plain
        # comparison does.
        if mac != self._mac(self._receiving, seq, payload):
            raise ChannelTampered(f"frame {seq} is not signed by the engine")
        del self._buffer[:end]
        self._recv_seq += 1
        try:
            frame = json.loads(payload)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            raise ChannelTampered(f"frame {seq} is not a JSON object")
        return frame

    def feed(self) -> None:
        """Read what is available (the socket must be readable); EOF sets :attr:`eof`."""
        try:
            chunk = self.sock.recv(_RECV_SIZE)
        except (ConnectionResetError, OSError):
            chunk = b""
        if not chunk:
            self.eof = True
            return
        self._buffer.extend(chunk)

    def drain(self) -> None:
        """Read everything already sent, without blocking (the peer may be dead)."""
        while not self.eof:
            try:
                chunk = self.sock.recv(_RECV_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                return
            self._buffer.extend(chunk)
            self.pending_check()

    def pending_check(self) -> None:
        """Refuse an oversized frame as soon as its header is in (before buffering it all)."""
        if len(self._buffer) >= HEADER.size:
            length = HEADER.unpack_from(self._buffer)[0]
            if length > MAX_FRAME:
                raise ChannelTampered(f"a frame of {length} bytes")

    def receive(self) -> Frame:
        """Block until one frame arrives; EOF raises :class:`ChannelClosed`."""
        while True:
            frame = self.pending()
            if frame is not None:
                return frame
            if self.eof:
                raise ChannelClosed("end of stream")
            self.feed()

    def close(self) -> None:
        self.sock.close()


def front_end_channel(sock: socket.socket) -> Channel:
    """The front end's side of a new child's channel: draws the key and sends the hello."""
    channel = Channel(sock, sending=TO_CHILD, receiving=TO_FRONT_END)
    key = os.urandom(KEY_BYTES)
    try:
        channel.send(Hello(op="hello", key=key.hex()))
    except ChannelClosed:
        pass  # the child is gone already: the first request finds out and says how it ended
    channel.key = key
    return channel


def child_channel(sock: socket.socket) -> Channel:
    """The child's side: reads the hello (before any module is loaded) and keys the channel."""
    channel = Channel(sock, sending=TO_FRONT_END, receiving=TO_CHILD)
    try:
        hello = channel.receive()
    except ChannelTampered:
        raise ChannelClosed("no hello from the front end") from None
    if hello.get("op") != "hello" or not isinstance(hello.get("key"), str):
        raise ChannelClosed("no hello from the front end")
    channel.key = bytes.fromhex(hello["key"])
    return channel


# -- the fork server's control socket ------------------------------------------------------

_CONTROL_PACKET = 1 << 16


def send_control(
    sock: socket.socket, frame: SpawnRequest | ServerEvent, fds: Sequence[int] = ()
) -> None:
    data = [json.dumps(frame, separators=(",", ":")).encode("utf-8")]
    if fds:
        rights = array.array("i", fds).tobytes()
        sock.sendmsg(data, [(socket.SOL_SOCKET, socket.SCM_RIGHTS, rights)])
    else:
        sock.sendmsg(data)


def receive_control(sock: socket.socket, max_fds: int) -> tuple[Frame, list[int]] | None:
    """One packet and the descriptors attached to it; None at end of stream."""
    fds = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(
        _CONTROL_PACKET, socket.CMSG_SPACE(max(1, max_fds) * fds.itemsize)
    )
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not msg:
        for fd in fds:
            close_quietly(fd)
        return None
    try:
        frame = json.loads(msg)
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        for fd in fds:
            close_quietly(fd)
        return {}, []
    return frame, list(fds)


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
