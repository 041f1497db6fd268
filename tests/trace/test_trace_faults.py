"""A trace survives what modules do: crash, hang, nest transactions, use up the slots, ask the
user; and it never names a rule it is not sure of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from trace_csrc import LOGGER, NESTED, TALKER

from pamexplorer.engine import Engine, EngineCrashed
from pamexplorer.engine import tracer as tracer_module
from pamexplorer.engine.trace.assemble import TraceBuilder
from pamexplorer.engine.trace.events import Events
from pamexplorer.engine.tracer import TracedTransaction
from pamexplorer.pam.codes import Code, Function
from pamexplorer.pam.records import REDACTED, Message, Trace
from pamexplorer.stack.resolve import resolve

ServiceDir = Callable[[dict[str, str]], Path]
FlaggedModule = Callable[[str, str, Sequence[str]], Path]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "fork server"])
@pytest.mark.parametrize("fault", ["segv", "hang"])
def test_the_trace_reaches_up_to_a_crash_or_hang(
    fault: str, direct: bool, flagged_module: FlaggedModule, service_dir: ServiceDir
) -> None:
    logger = flagged_module("logger", LOGGER, ("-O1",))
    confdir = service_dir(
        {
            "svc": "auth required pam_permit.so\n"
            f"auth required {logger} last-words 0 {fault}\n"
            "auth required pam_deny.so\n"
        }
    )
    engine = Engine(timeout=3 if fault == "hang" else 30, direct=direct)
    with (
        engine.start("svc", "alice", str(confdir)) as session,
        pytest.raises(EngineCrashed) as crash,
    ):
        session.call(Function.AUTHENTICATE)
    trace = crash.value.trace
    assert isinstance(trace, Trace) and trace.crashed and trace.status == "traced"
    permit, stuck = trace.modules
    assert (permit.line, permit.code, permit.action) == (1, 0, "ok")
    assert (stuck.line, stuck.code, stuck.action) == (2, None, "crashed")
    # what the module logged before it died arrived: the shim writes each event to the flight
    # recorder as it happens
    assert [line.text for line in stuck.log][:2] == ["syslog last-words 1", "vsyslog last-words 2"]
    assert "trace" in crash.value.to_dict()


def test_a_nested_transaction_stays_inside_its_module(
    flagged_module: FlaggedModule, service_dir: ServiceDir
) -> None:
    logger = flagged_module("logger", LOGGER, ("-O1",))
    nested = flagged_module("nested", NESTED, ("-O1",))
    inner = service_dir({"inner": f"auth required {logger} inner 0\n"})
    confdir = service_dir(
        {"svc": f"auth required {nested} inner {inner}\nauth required pam_permit.so\n"}
    )
    txn = TracedTransaction("svc", "alice", confdir=str(confdir))
    txn.start()
    record = txn.call(Function.AUTHENTICATE)
    again = txn.call(Function.AUTHENTICATE)  # the nested pam_end gave its slots back
    txn.end()
    assert record.code == again.code == Code.PAM_SUCCESS
    for traced in (record.trace, again.trace):
        assert traced is not None and traced.status == "traced" and traced.disagreement == ""
        outer, permit = traced.modules
        assert (outer.module, outer.line, permit.line) == (str(nested), 1, 2)
        # the inner module's lines belong to the outer invocation that ran it
        assert "syslog inner 1" in [line.text for line in outer.log]
        assert permit.log == ()


def test_slots_come_back_after_pam_end(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    slots = tracer_module.load()
    assert slots is not None
    for _ in range(600):  # 2 slots each: more than the shim's 1024 without release
        txn = TracedTransaction("svc", "alice", confdir=str(confdir))
        txn.start()
        record = txn.call(Function.AUTHENTICATE)
        txn.end()
    assert record.trace is not None and record.trace.status == "traced"
    assert record.trace.modules[0].code == 0


def test_out_of_slots_is_unreliable_never_wrong(service_dir: ServiceDir) -> None:
    rules = "".join(f"auth optional pam_debug.so auth=success x={i}\n" for i in range(520))
    confdir = service_dir({"svc": rules + "auth required pam_deny.so\n"})
    txn = TracedTransaction("svc", "alice", confdir=str(confdir))
    start = txn.start()
    record = txn.call(Function.AUTHENTICATE)
    txn.end()
    assert start.trace is not None and start.trace.status == "unreliable"
    assert "out of trace slots" in start.trace.reason
    assert record.code == Code.PAM_AUTH_ERR  # modules past the slots ran untraced, unharmed
    assert record.trace is not None and record.trace.status == "unreliable"
    assert record.trace.decided_by is None
    assert all(m.file == "" for m in record.trace.modules)  # no rule named


def test_a_changed_file_is_unreliable_never_wrong(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_debug.so auth=success\n"})
    txn = TracedTransaction("svc", "alice", confdir=str(confdir))  # resolves the file now
    (confdir / "svc").write_text("auth required pam_debug.so auth=auth_err extra\n")
    txn.start()
    record = txn.call(Function.AUTHENTICATE)
    txn.end()
    assert record.code == Code.PAM_AUTH_ERR
    assert record.trace is not None and record.trace.status == "unreliable"
    assert "arguments" in record.trace.reason and record.trace.decided_by is None


def test_messages_belong_to_the_module_that_asked(
    flagged_module: FlaggedModule, service_dir: ServiceDir
) -> None:
    talker = flagged_module("talker", TALKER, ("-O1",))
    secret = "s3cret-answer"
    confdir = service_dir(
        {"svc": f"auth required {talker} one\nauth required {talker} two {secret}\n"}
    )

    class Answer:
        def respond(self, messages: Sequence[Message]) -> list[str | None]:
            return [secret if m.style.is_prompt else None for m in messages]

    for engine in (False, True):
        if engine:
            with Engine(timeout=30).start(
                "svc", "alice", str(confdir), conversation=Answer()
            ) as session:
                record = session.call(Function.AUTHENTICATE)
        else:
            txn = TracedTransaction("svc", "alice", confdir=str(confdir), conversation=Answer())
            txn.start()
            record = txn.call(Function.AUTHENTICATE)
            txn.end()
        assert record.trace is not None
        first, second = record.trace.modules
        assert [(m.text, m.answer) for m in first.messages] == [
            ("one", None),
            ("Secret: ", REDACTED),
        ]
        assert [m.text for m in second.messages] == ["two", "Secret: "]
        # the answer typed at an echo-off prompt is scrubbed even from a rule's arguments
        assert second.args == ("two", REDACTED)
        assert secret not in repr(record.trace.to_dict())


def test_a_disagreement_is_flagged(
    monkeypatch: pytest.MonkeyPatch, service_dir: ServiceDir
) -> None:
    """Replay a real call's events into a fresh builder, once with libpam's code and once
    with another: only the second is flagged."""
    confdir = service_dir({"svc": "auth required pam_deny.so\n"})
    seen: list[Events] = []
    from pamexplorer.engine.trace.events import parse_untrusted as real_parse

    def keep(text: str) -> tuple[Events, int]:
        parsed = real_parse(text)
        seen.append(parsed[0])
        return parsed

    monkeypatch.setattr(tracer_module, "parse_untrusted", keep)
    txn = TracedTransaction("svc", "alice", confdir=str(confdir))
    start = txn.start()
    record = txn.call(Function.AUTHENTICATE)
    txn.end()
    assert record.trace is not None and record.trace.disagreement == ""
    for code, flagged in ((record.code, False), (int(Code.PAM_SUCCESS), True)):
        builder = TraceBuilder(resolve("svc", str(confdir)))
        builder.add(start, seen[0])
        replayed = builder.add(
            type(record)(**{**record.__dict__, "code": code, "trace": None}), seen[1]
        )
        assert bool(replayed.disagreement) is flagged, replayed.disagreement
        if flagged:
            assert replayed.disagreement.startswith("trace and simulator disagree")
