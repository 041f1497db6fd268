"""``records.quick_init``: the faster ``__init__`` of the frozen records a trace makes per call
must make exactly the instances the dataclass's own ``__init__`` makes."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from pamexplorer.pam.records import LogLine, ModuleCall, Trace, quick_init
from pamexplorer.stack.simulate import CallResult, PathStep

QUICK = (ModuleCall, Trace, PathStep, CallResult)


def plain_twin(cls: type) -> type:
    """The same class as the dataclass decorator alone makes it."""
    spec = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True)


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_same_signature_as_the_generated_init(cls: type) -> None:
    twin = plain_twin(cls)
    ours, theirs = vars(cls)["__init__"], vars(twin)["__init__"]
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_same_fields_defaults_and_keywords(cls: type) -> None:
    twin = plain_twin(cls)
    required = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    values = {f.name: f"v-{f.name}" for f in required}
    made, expected = cls(**values), twin(**values)
    assert dataclasses.asdict(made) == dataclasses.asdict(expected)
    # positional, every field given
    every = [f"p-{f.name}" for f in dataclasses.fields(cls)]
    assert dataclasses.asdict(cls(*every)) == dataclasses.asdict(twin(*every))
    with pytest.raises(TypeError):
        cls(*every, "one too many")
    if required:
        with pytest.raises(TypeError):
            cls()


def test_still_frozen_equal_and_hashable() -> None:
    call = ModuleCall("/etc/pam.d/login", 3, "auth", "required", "pam_unix.so", ("nullok",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.code = 0  # type: ignore[misc]
    same = ModuleCall("/etc/pam.d/login", 3, "auth", "required", "pam_unix.so", ("nullok",))
    assert call == same and hash(call) == hash(same)
    assert dataclasses.replace(call, code=7).code == 7 and call.code is None
    trace = Trace(modules=(call,), log=(LogLine(6, "x"),))
    assert trace.modules[0] is call and trace.status == "traced"


def test_refuses_what_it_cannot_do() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class WithPostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    for cls in (WithFactory, WithPostInit):
        with pytest.raises(TypeError, match="needs the generated __init__"):
            quick_init(cls)
