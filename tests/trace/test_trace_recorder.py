"""The flight recorder: the memfd a tracing child writes its events to as modules run.

The front end reads each call's events from it, and a crashed call's; a module can write to it
as to anything in its process, so what is read there is untrusted input: it may make a trace
unreliable, never wrong, never an error. A program a module runs does not inherit it, and a
front end without one still gets its traces (the events then come with each record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from trace_csrc import REPEATER

from pamexplorer.engine import Engine, EngineCrashed, spawning
from pamexplorer.engine.spawning import DirectForker
from pamexplorer.engine.trace.events import GARBLED, parse_untrusted
from pamexplorer.pam.codes import Code, Function
from pamexplorer.pam.records import CallRecord

ServiceDir = Callable[[dict[str, str]], Path]
ModuleFactory = Callable[[str, str], Path]

#: Writes to the recorder's descriptor (fd 4 in an engine child) the way its argument says,
#: then fails: ``tail`` appends junk at the end (where the shim writes next), ``head`` writes
#: at the descriptor's own offset (the start: the shim writes at its own offsets), ``spawn``
#: lists the descriptors a program it runs inherits.
SCRIBBLER = r"""
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int flags, int argc, const char **argv) {
    static const char junk[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    if (argc > 0 && strcmp(argv[0], "tail") == 0) {
        lseek(4, 0, SEEK_END);
        (void)!write(4, junk, sizeof junk - 1);
    } else if (argc > 0 && strcmp(argv[0], "head") == 0) {
        lseek(4, 0, SEEK_SET);
        (void)!write(4, junk, sizeof junk - 1);
    } else if (argc > 0 && strcmp(argv[0], "spawn") == 0) {
        (void)!system("ls -l /proc/self/fd/ | grep -c pamexplorer-trace");
    }
    return 7;
}
"""


@pytest.fixture(params=["direct", "fork server"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield Engine(timeout=30, direct=request.param == "direct")


@pytest.fixture
def scribbler(c_module: ModuleFactory) -> Path:
    return c_module("scribbler", SCRIBBLER)


def test_junk_where_the_shim_writes_next_makes_the_trace_unreliable_not_wrong(
    engine: Engine, service_dir: ServiceDir, scribbler: Path
) -> None:
    confdir = service_dir(
        {"svc": f"auth required {scribbler} tail\naccount required pam_permit.so\n"}
    )
    with engine.start("svc", "alice", str(confdir)) as session:
        record = session.call(Function.AUTHENTICATE)
        assert record.code == Code.PAM_AUTH_ERR  # the code comes on the signed channel
        trace = record.trace
        assert trace is not None
        # a direct child assembles the trace from its own buffer (with threads running, a
        # direct engine uses the fork server all the same)
        if isinstance(session.server, DirectForker):
            assert trace.status == "traced" and trace.decided_by == 0
        else:  # the front end read the junk: no rule is named on what cannot be believed
            assert trace.status == "unreliable" and GARBLED in trace.reason
            assert trace.decided_by is None and trace.modules[0].code == 7
        # the session goes on; the next call's events are read past the junk
        assert session.call(Function.ACCT_MGMT).code == Code.PAM_SUCCESS


def scribble(engine: Engine, service_dir: ServiceDir, scribbler: Path, how: str) -> CallRecord:
    """pam_authenticate on a service whose one rule is the scribbler, told ``how``."""
    confdir = service_dir({"svc": f"auth required {scribbler} {how}\n"})
    with engine.start("svc", "alice", str(confdir)) as session:
        return session.call(Function.AUTHENTICATE)


def test_writing_at_the_descriptors_offset_changes_nothing(
    engine: Engine, service_dir: ServiceDir, scribbler: Path
) -> None:
    record = scribble(engine, service_dir, scribbler, "head")
    assert record.trace is not None and record.trace.status == "traced", record.trace
    (module,) = record.trace.modules
    assert (module.line, module.code, module.action) == (1, 7, "bad")


def test_a_program_a_module_runs_does_not_inherit_the_recorder(
    engine: Engine, service_dir: ServiceDir, scribbler: Path
) -> None:
    record = scribble(engine, service_dir, scribbler, "spawn")
    assert record.output == ("0",)
    assert record.trace is not None and record.trace.status == "traced"


def test_without_a_recorder_the_events_come_with_the_records(
    engine: Engine, service_dir: ServiceDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spawning, "flight_recorder", lambda: -1)
    confdir = service_dir(
        {"svc": "auth [success=1 default=ignore] pam_permit.so\nauth requisite pam_deny.so\n"
         "auth required pam_permit.so\n"}
    )  # fmt: skip
    with engine.start("svc", "alice", str(confdir)) as session:
        record = session.call(Function.AUTHENTICATE)
    assert record.code == Code.PAM_SUCCESS
    assert record.trace is not None and record.trace.status == "traced"
    assert [(m.line, m.code, m.action, m.ran) for m in record.trace.modules] == [
        (1, 0, "jump 1", True),
        (2, None, "", False),
        (3, 0, "ok", True),
    ]
    assert record.trace.decided_by == 2


def test_a_crash_without_a_recorder_still_ends_cleanly(
    engine: Engine,
    service_dir: ServiceDir,
    c_module: ModuleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spawning, "flight_recorder", lambda: -1)
    segv = c_module(
        "segv-recorder",
        "PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) "
        "{ return *(volatile int *)0; }\n",
    )
    confdir = service_dir({"svc": f"auth required pam_permit.so\nauth required {segv}\n"})
    with (
        engine.start("svc", "alice", str(confdir)) as session,
        pytest.raises(EngineCrashed) as crash,
    ):
        session.call(Function.AUTHENTICATE)
    trace = crash.value.trace
    # what ran is unknown without a recorder: no module is named, none is made up
    assert trace is not None and trace.crashed and trace.modules == ()


@pytest.mark.parametrize(
    ("text", "count", "used", "garbled"),
    [
        ("", 0, 0, False),
        ('["S",-1,6,"a],b"],', 1, 18, False),
        ('["S",-1,6,"one"],["S",-1,6,"two"],', 2, 34, False),
        ('["S",-1,6,"one"],xxxx', 1, 17, True),
        ('["S",-1,6,"one"],["S"],', 1, 17, True),
        ('["S",-1,6,"one"],{"a":1},', 1, 17, True),
        ('["B",0,-1,"slot",0,[],1],', 0, 0, True),
        ("[],", 0, 0, True),
        ("\x00" * 64, 0, 0, True),
    ],
)
def test_recorder_text_is_parsed_as_untrusted(
    text: str, count: int, used: int, garbled: bool
) -> None:
    events, taken = parse_untrusted(text)
    assert (len(events.log) + len(events.invocations), taken) == (count, used)
    assert (GARBLED in events.lost) is garbled


def test_a_service_started_again_is_mapped_again_once_its_file_changed(
    service_dir: ServiceDir,
) -> None:
    """The same pam_start events on the same stack reuse the map made of them; a changed file
    is a new stack, mapped anew (the lookups' text is the same: one module, one function)."""
    engine = Engine(timeout=30)
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})

    def first_module() -> tuple[str, str]:
        with engine.start("svc", "alice", str(confdir)) as session:
            record = session.call(Function.AUTHENTICATE)
        assert record.trace is not None and record.trace.status == "traced"
        module = record.trace.modules[0]
        return module.control, module.action

    assert first_module() == first_module() == ("required", "ok")
    (confdir / "svc").write_text("auth sufficient pam_permit.so\n")
    assert first_module() == ("sufficient", "done")


def test_a_child_whose_front_end_reads_the_recorder_keeps_no_copy_of_its_events(
    service_dir: ServiceDir, c_module: ModuleFactory
) -> None:
    """A fork server's child writes its events to the recorder only: a call with some 10 MB of
    them (150,000 nested module calls, each a "B" and an "E" event) leaves its memory as it
    was, and its trace is still whole."""
    repeater = c_module("repeater", REPEATER)
    confdir = service_dir({"inner": "auth required pam_permit.so\n"})
    (confdir / "svc").write_text(f"auth required {repeater} inner {confdir} 150000\n")
    with Engine(timeout=120).start("svc", "alice", str(confdir)) as session:
        assert not isinstance(session.server, DirectForker)
        record = session.call(Function.AUTHENTICATE)
    assert record.code == Code.PAM_SUCCESS
    (line,) = record.output
    assert line.startswith("grew ") and int(line.split()[1]) < 2048, line
    assert record.trace is not None and record.trace.status == "traced", record.trace
    assert [(m.line, m.code) for m in record.trace.modules] == [(1, 0)]
