"""The channel cannot be forged: a module writing to fd 3 ends its own transaction (issue 9)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.engine import Engine, EngineCrashed
from pamexplorer.engine.protocol import (
    HEADER,
    MAX_FRAME,
    TO_CHILD,
    TO_FRONT_END,
    Channel,
    ChannelTampered,
    ErrorEvent,
    ValueEvent,
    child_channel,
    front_end_channel,
)
from pamexplorer.pam.codes import Code, Function
from tests.engine.procinfo import running, wait_until

ServiceDir = Callable[[dict[str, str]], Path]
CALL = [sys.executable, "-m", "pamexplorer", "call"]
TAMPERED = "the engine channel was written to by module code during pam_authenticate"


@pytest.mark.parametrize("attack", ["forge", "forge-hang", "garbage", "old-frame", "oversize"])
def test_a_module_writing_to_the_channel_is_a_tampered_crash(
    engine: Engine, service_dir: ServiceDir, hostile: Path, attack: str
) -> None:
    confdir = service_dir(
        {"svc": f"auth required {hostile} {attack}\n", "ok": "auth required pam_permit.so\n"}
    )
    session = engine.start("svc", "alice", confdir=str(confdir))
    with pytest.raises(EngineCrashed) as caught:
        session.call(Function.AUTHENTICATE)
    error = caught.value
    assert (error.kind, error.during, str(error)) == ("tampered", "pam_authenticate", TAMPERED)
    assert error.to_dict()["kind"] == "tampered"
    assert not session.open
    assert wait_until(lambda: not running(session.pid))  # killed, not left to finish
    # The next transaction is unaffected: its replies are its own, in order.
    with engine.start("ok", "alice", confdir=str(confdir)) as other:
        assert other.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS
        assert other.get_item("user") == "alice"


def test_a_forged_success_never_shows_in_call(service_dir: ServiceDir, hostile: Path) -> None:
    confdir = service_dir({"svc": f"auth required {hostile} forge\n"})
    for fmt in ("text", "json"):
        done = subprocess.run(
            [*CALL, "--format", fmt, "--confdir", str(confdir), "svc", "alice", "authenticate"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 3, done.stderr
        assert "Traceback" not in done.stderr and "FORGED" not in done.stdout
        if fmt == "text":
            assert f"error: {TAMPERED}" in done.stdout.splitlines()
        else:
            report = json.loads(done.stdout)
            assert report["calls"] == [] and report["error"]["kind"] == "tampered"


# -- the channel itself ------------------------------------------------------------------------


def keyed_pair() -> tuple[Channel, Channel]:
    """A front end's and a child's channel over a socketpair, hello exchanged."""
    ours, theirs = socket.socketpair()
    front = front_end_channel(ours)
    child = child_channel(theirs)
    return front, child


def raw_frames(sender: Channel, frames: list[ValueEvent]) -> bytes:
    """The bytes ``sender`` puts on the wire for ``frames`` (read back from a spare socket)."""
    spare, peer = socket.socketpair()
    sender.sock, real = spare, sender.sock
    try:
        for frame in frames:
            sender.send(frame)
    finally:
        sender.sock = real
    spare.close()
    data = b""
    while chunk := peer.recv(1 << 16):
        data += chunk
    peer.close()
    return data


def test_frames_round_trip_in_order() -> None:
    front, child = keyed_pair()
    child.send(ValueEvent(event="value", value="one"))
    child.send(ErrorEvent(event="error", message="two"))
    assert front.receive() == {"event": "value", "value": "one"}
    assert front.receive() == {"event": "error", "message": "two"}


def test_a_replayed_frame_is_refused() -> None:
    front, child = keyed_pair()
    wire = raw_frames(child, [ValueEvent(event="value", value="granted")])
    front.sock.close()
    a, b = socket.socketpair()
    front.sock = a
    b.sendall(wire + wire)  # the same authentic frame, twice
    assert front.receive() == {"event": "value", "value": "granted"}
    with pytest.raises(ChannelTampered, match="frame 0 where 1 was due"):
        front.receive()


def test_a_frame_signed_with_another_key_or_reflected_is_refused() -> None:
    front, _child = keyed_pair()
    _, stranger = keyed_pair()  # another child, another key
    foreign = raw_frames(stranger, [ValueEvent(event="value", value="x")])
    reflected = Channel(socket.socket(), sending=TO_CHILD, receiving=TO_FRONT_END)
    reflected.key = front.key  # the right key, the wrong direction
    backwards = raw_frames(reflected, [ValueEvent(event="value", value="x")])
    for wire in (foreign, backwards):
        a, b = socket.socketpair()
        receiver = Channel(a, sending=TO_CHILD, receiving=TO_FRONT_END)
        receiver.key = front.key
        b.sendall(wire)
        with pytest.raises(ChannelTampered, match="not signed by the engine"):
            receiver.receive()


def test_an_oversized_frame_is_refused_from_its_header() -> None:
    front, _child = keyed_pair()
    a, b = socket.socketpair()
    front.sock = a
    b.sendall(HEADER.pack(MAX_FRAME + 1, 0, bytes(32)))  # no payload follows: not waited for
    with pytest.raises(ChannelTampered, match="a frame of"):
        front.receive()


def test_the_key_never_travels_outside_the_channel(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    with engine.start("svc", "alice", confdir=str(confdir)) as session:
        key = session.channel.key.hex()
        assert len(session.channel.key) == 32
        argv = Path(f"/proc/{session.pid}/cmdline").read_bytes().decode(errors="replace")
        try:
            environ = Path(f"/proc/{session.pid}/environ").read_text(errors="replace")
        except PermissionError:  # not dumpable: closed to our uid without CAP_SYS_PTRACE
            environ = ""
        assert key not in argv and key not in environ
    assert key not in os.environ.values()


def test_a_forged_success_never_passes_a_profile(
    hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pamexplorer.cli import main

    profile = tmp_path / "forged.yaml"
    profile.write_text(
        f'service: svc\nconfig: {{svc: "auth required {hostile} forge"}}\nuser: alice\n'
        "steps: [authenticate]\n"
    )
    status = main(["run", "--format", "json", str(profile)])
    out, err = capsys.readouterr()
    assert status == 3, (out, err)
    report = json.loads(out)
    assert report["status"] == "crashed" and report["reason"] == TAMPERED


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"x" * 64, b"long" * 40])
def test_the_mac_is_hmac_sha256(key: bytes) -> None:
    import hashlib
    import hmac

    from pamexplorer.engine.protocol import HmacSha256

    parts = (b"label", (7).to_bytes(8, "big"), b'{"event":"value"}')
    expected = hmac.new(key, b"".join(parts), hashlib.sha256).digest()
    assert HmacSha256(key).digest(*parts) == expected
