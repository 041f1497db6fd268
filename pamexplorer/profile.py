"""Profiles: PAM scenarios kept as YAML files. Load, validate, save; never a secret.

A profile names a service, where its configuration comes from, the user, items, PAM
environment, scripted answers and the steps to run with what each should return. Loading keeps
the line of every node, so every problem reads ``FILE:LINE: field: what was expected``.

Secrets never live in a :class:`Profile`: an answer may be a literal (fine for the lab), or a
*source* (``{env: NAME}``, ``{ask: true}``) that the runner resolves at run time.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pamexplorer.engine.environment import INHERITED_ENV
from pamexplorer.pam.codes import (
    SETTABLE_ITEMS,
    Code,
    Flag,
    Function,
    Item,
    code_by_name,
    flag_by_name,
    flag_names,
    item_by_name,
)
from pamexplorer.pam.operation import OperationError, parse_operation

#: Where a profile's service configuration comes from.
CONFIG_SYSTEM, CONFIG_LAB = "system", "lab"
#: Steps that are not one of the six stack functions.
ITEM_STEP, PUTENV_STEP = "set_item", "putenv"
#: Items a profile may set (``user`` has its own key; ``service`` is pam_start's).
PROFILE_ITEMS: tuple[str, ...] = tuple(i.short for i in SETTABLE_ITEMS if i is not Item.PAM_USER)
TOP_KEYS = (
    "name",
    "description",
    "service",
    "config",
    "user",
    "items",
    "env",
    "answers",
    "timeout",
    "requires",
    "expect_start",
    "steps",
    "lesson",
)
STEP_KEYS = ("flags", "expect", "expect_messages", "expect_env", "expect_fail_delay")
LESSON_KEYS = ("question", "hints", "explanation")
REQUIRES_KEYS = ("root", "users", "services")
DEFAULT_TIMEOUT = 30.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE_NAME = re.compile(r"^[^/\s]+$")


class ProfileError(Exception):
    """A profile that cannot be used; ``str(err)`` is ``FILE:LINE: field: what was expected``."""

    def __init__(self, file: str, line: int, field: str, expected: str) -> None:
        super().__init__(f"{file}:{line}: {field}: {expected}")
        self.file, self.line, self.field, self.expected = file, line, field, expected


@dataclass(frozen=True)
class Answer:
    """One scripted answer. ``match`` is a regex searched in the prompt; without it the answer
    is used in order, for prompts no pattern matched. Exactly one of ``literal``, ``env``,
    ``ask`` gives the value."""

    match: str | None = None
    literal: str | None = None
    env: str | None = None
    ask: bool = False
    line: int = field(default=0, compare=False)

    @property
    def secret(self) -> bool:
        """A value from the environment or from a person is a secret: never saved or shown."""
        return self.env is not None or self.ask

    def source(self) -> str:
        if self.env is not None:
            return f"environment variable {self.env}"
        if self.ask:
            return "asked"
        return "literal"


@dataclass(frozen=True)
class Expectation:
    """What a step should produce; ``codes`` empty means any code is accepted."""

    codes: tuple[Code, ...] = (Code.PAM_SUCCESS,)
    messages: tuple[str, ...] | None = None  # regexes, one per message, in order
    env: dict[str, str | None] | None = None  # None value: the variable must be absent
    fail_delay: bool | tuple[int, int] | None = None

    def code_names(self) -> list[str]:
        return [c.name for c in self.codes]


@dataclass(frozen=True)
class Step:
    """A libpam call (``function`` set), ``set_item`` (``items``) or ``putenv`` (``entry``)."""

    action: str  # "authenticate", ..., "set_item", "putenv"
    function: Function | None = None
    flags: int = 0
    items: dict[str, str] = field(default_factory=dict)
    entry: str | None = None
    expect: Expectation = field(default_factory=Expectation)
    line: int = field(default=0, compare=False)

    @property
    def libpam_name(self) -> str:
        if self.function is not None:
            return self.function.value
        return "pam_set_item" if self.action == ITEM_STEP else "pam_putenv"

    def label(self) -> str:
        if self.function is not None:
            names = flag_names(self.flags)
            return self.action + (f"({'|'.join(names)})" if names else "")
        if self.action == ITEM_STEP:
            return "set_item(" + ", ".join(f"{k}={v}" for k, v in self.items.items()) + ")"
        return f"putenv({self.entry})"


@dataclass(frozen=True)
class Lesson:
    question: str
    hints: tuple[str, ...] = ()
    explanation: str | None = None


@dataclass(frozen=True)
class Requires:
    root: bool = False
    users: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


@dataclass
class Profile:
    service: str
    steps: list[Step]
    title: str | None = None  # the YAML ``name`` key
    description: str | None = None
    config: str | Path | dict[str, str] = CONFIG_SYSTEM
    user: str | None = None
    items: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    timeout: float | None = None
    requires: Requires = field(default_factory=Requires)
    expect_start: tuple[Code, ...] = (Code.PAM_SUCCESS,)
    lesson: Lesson | None = None
    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # field -> line

    @property
    def name(self) -> str:
        """The short name a person types: the file name without ``.yaml``."""
        if self.path is not None:
            return self.path.name.removesuffix(".yaml").removesuffix(".yml")
        return self.service

    @property
    def display_title(self) -> str:
        return self.title or self.name

    @property
    def config_kind(self) -> str:
        if isinstance(self.config, dict):
            return "inline"
        if isinstance(self.config, Path):
            return "directory"
        return self.config

    def where(self, field_name: str) -> str:
        """``FILE:LINE`` of a field, for errors found while running."""
        file = str(self.path) if self.path else "<profile>"
        return f"{file}:{self.lines.get(field_name, 1)}"


# --------------------------------------------------------------------------------------------
# Loading


def load(path: str | os.PathLike[str]) -> Profile:
    """Read and validate one profile file; raises :class:`ProfileError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProfileError(str(file), 1, "file", "expected UTF-8 text") from None
    except OSError as err:
        raise ProfileError(str(file), 1, "file", f"cannot read ({err.strerror})") from None
    return loads(text, file)


def loads(text: str, path: str | os.PathLike[str] | None = None) -> Profile:
    """Validate a profile given as text; ``path`` names it in errors and anchors relative
    ``config`` directories."""
    file = Path(path) if path is not None else None
    name = str(file) if file is not None else "<profile>"
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = err.problem or err.context or "invalid YAML"
        raise ProfileError(name, line, "yaml", f"expected valid YAML ({problem})") from None
    except yaml.YAMLError as err:
        raise ProfileError(name, 1, "yaml", f"expected valid YAML ({err})") from None
    return _Reader(name, file).profile(root)


class _Reader:
    def __init__(self, name: str, file: Path | None) -> None:
        self.name = name
        self.file = file
        self.lines: dict[str, int] = {}
        self.constructor = yaml.constructor.SafeConstructor()

    # ---- primitives -------------------------------------------------------------------------

    def error(self, node: Node | None, fld: str, expected: str) -> ProfileError:
        line = node.start_mark.line + 1 if node is not None else 1
        return ProfileError(self.name, line, fld, expected)

    def mapping(self, node: Node, fld: str, keys: tuple[str, ...]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.error(node, fld, f"expected a mapping with keys {', '.join(keys)}")
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                raise self.error(key_node, fld, "expected text keys")
            if key in out:
                raise self.error(key_node, _join(fld, key), "expected each key only once")
            if key not in keys:
                raise self.error(key_node, _join(fld, key), _unknown("key", key, keys))
            out[key] = value_node
        return out

    def scalar(self, node: Node, fld: str = "value") -> Any:
        if not isinstance(node, ScalarNode):
            return node
        try:
            return self.constructor.construct_object(node)
        except yaml.YAMLError:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self.error(node, fld, f"expected plain YAML, not the tag {tag}") from None
        except (ValueError, TypeError, OverflowError):
            kind = node.tag.rsplit(":", 1)[-1]
            raise self.error(node, fld, f"expected a valid {kind} value") from None

    def text(self, node: Node, fld: str, *, allow_empty: bool = False) -> str:
        value = self.scalar(node, fld) if isinstance(node, ScalarNode) else node
        if isinstance(node, MappingNode):
            raise self.error(
                node, fld, "expected text, got a mapping (quote text that contains ': ')"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(node, fld, "expected text")
        value = str(value)
        if not allow_empty and not value.strip():
            raise self.error(node, fld, "expected non-empty text")
        return value

    def text_list(self, node: Node, fld: str) -> list[str]:
        if isinstance(node, ScalarNode):
            return [self.text(node, fld)]
        if not isinstance(node, SequenceNode):
            raise self.error(node, fld, "expected a list of text")
        return [self.text(n, f"{fld}[{i}]") for i, n in enumerate(node.value)]

    def boolean(self, node: Node, fld: str) -> bool:
        value = self.scalar(node)
        if not isinstance(value, bool):
            raise self.error(node, fld, "expected true or false")
        return value

    def string_map(self, node: Node, fld: str) -> dict[str, tuple[str, Node]]:
        if isinstance(node, ScalarNode) and self.scalar(node) is None:
            return {}
        if not isinstance(node, MappingNode):
            raise self.error(node, fld, "expected a mapping of names to values")
        out: dict[str, tuple[str, Node]] = {}
        for key_node, value_node in node.value:
            key = self.text(key_node, fld)
            if key in out:
                raise self.error(key_node, _join(fld, key), "expected each key only once")
            out[key] = (key, value_node)
        return out

    def codes(self, node: Node, fld: str) -> tuple[Code, ...]:
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not nodes:
            raise self.error(node, fld, "expected at least one PAM return code")
        out: list[Code] = []
        for sub in nodes:
            value = self.scalar(sub)
            if value == "any" and not isinstance(node, SequenceNode):
                return ()
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise self.error(sub, fld, "expected a PAM return code name like PAM_AUTH_ERR")
            try:
                code = code_by_name(str(value))
            except KeyError:
                raise self.error(
                    sub, fld, _unknown("return code", str(value), [c.name for c in Code])
                ) from None
            out.append(code)
        return tuple(out)

    # ---- the profile ------------------------------------------------------------------------

    def profile(self, root: Node | None) -> Profile:
        if root is None or (isinstance(root, ScalarNode) and self.scalar(root) is None):
            raise ProfileError(
                self.name, 1, "profile", "expected a mapping with at least service and steps"
            )
        top = self.mapping(root, "profile", TOP_KEYS)
        for key, node in top.items():
            self.lines[key] = node.start_mark.line + 1
        for required in ("service", "steps"):
            if required not in top:
                raise self.error(root, required, f"expected a {required} key")
        service = self.text(top["service"], "service")
        if not _SERVICE_NAME.match(service):
            raise self.error(
                top["service"], "service", "expected a service name without '/' or spaces"
            )
        profile = Profile(service=service, steps=[], path=self.file, lines=self.lines)
        if "name" in top:
            profile.title = self.text(top["name"], "name")
        if "description" in top:
            profile.description = self.text(top["description"], "description")
        if "config" in top:
            profile.config = self.config(top["config"])
        if "user" in top:
            profile.user = self.optional_text(top["user"], "user")
        if "items" in top:
            profile.items = self.items(top["items"], "items")
        if "env" in top:
            profile.env = self.env(top["env"])
        if "answers" in top:
            profile.answers = self.answers(top["answers"])
        if "timeout" in top:
            profile.timeout = self.timeout(top["timeout"])
        if "requires" in top:
            profile.requires = self.requires(top["requires"])
        if "expect_start" in top:
            profile.expect_start = self.codes(top["expect_start"], "expect_start")
        profile.steps = self.steps(
            top["steps"],
            Code.PAM_SUCCESS not in profile.expect_start and bool(profile.expect_start),
        )
        if "lesson" in top:
            profile.lesson = self.lesson(top["lesson"])
        return profile

    def optional_text(self, node: Node, fld: str) -> str | None:
        if isinstance(node, ScalarNode) and self.scalar(node, fld) is None:
            return None
        return self.text(node, fld)

    def config(self, node: Node) -> str | Path | dict[str, str]:
        if isinstance(node, MappingNode):
            files: dict[str, str] = {}
            for key, (name, body) in self.string_map(node, "config").items():
                fld = f"config.{key}"
                if not _SERVICE_NAME.match(name) or name in (".", ".."):
                    raise self.error(body, fld, "expected a service file name without '/'")
                files[name] = self.text(body, fld, allow_empty=True)
            if not files:
                raise self.error(node, "config", "expected at least one service file")
            return files
        value = self.text(node, "config")
        if value in (CONFIG_SYSTEM, CONFIG_LAB):
            return value
        directory = Path(value).expanduser()
        if not directory.is_absolute() and self.file is not None:
            directory = self.file.parent / directory
        if not directory.is_dir():
            raise self.error(
                node,
                "config",
                "expected system, lab, an existing directory "
                f"or a mapping of service files ({value!r} is not a directory)",
            )
        return directory

    def items(self, node: Node, fld: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, (_, value) in self.string_map(node, fld).items():
            try:
                item = item_by_name(key)
            except KeyError:
                item = None
            short = item.short if item is not None else key
            if item is None or short not in PROFILE_ITEMS:
                hint = " (the user has its own key: user)" if short == "user" else ""
                raise self.error(
                    value, _join(fld, key), _unknown("item", key, PROFILE_ITEMS) + hint
                )
            out[short] = self.text(value, _join(fld, key), allow_empty=True)
        return out

    def env(self, node: Node) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, (_, value) in self.string_map(node, "env").items():
            if not _ENV_NAME.match(key):
                raise self.error(
                    value, f"env.{key}", "expected a variable name (letters, digits, _)"
                )
            out[key] = self.text(value, f"env.{key}", allow_empty=True)
        return out

    def answers(self, node: Node) -> list[Answer]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, "answers", "expected a list of {match, answer} entries")
        out: list[Answer] = []
        for i, entry in enumerate(node.value):
            fld = f"answers[{i}]"
            keys = self.mapping(entry, fld, ("match", "answer"))
            if "answer" not in keys:
                raise self.error(
                    entry, f"{fld}.answer", "expected an answer: text, {env: NAME} or {ask: true}"
                )
            match = None
            if "match" in keys:
                match = self.text(keys["match"], f"{fld}.match")
                try:
                    re.compile(match)
                except re.error as err:
                    raise self.error(
                        keys["match"], f"{fld}.match", f"expected a regular expression ({err})"
                    ) from None
            out.append(
                self.answer(keys["answer"], f"{fld}.answer", match, entry.start_mark.line + 1)
            )
        return out

    def answer(self, node: Node, fld: str, match: str | None, line: int) -> Answer:
        if isinstance(node, MappingNode):
            keys = self.mapping(node, fld, ("env", "ask"))
            if len(keys) != 1:
                raise self.error(node, fld, "expected exactly one of env or ask")
            if "env" in keys:
                name = self.text(keys["env"], f"{fld}.env")
                if not _ENV_NAME.match(name):
                    raise self.error(keys["env"], f"{fld}.env", "expected a variable name")
                if name in INHERITED_ENV or name.startswith("LC_"):
                    # Engine children inherit these; a secret must not travel that way.
                    raise self.error(
                        keys["env"],
                        f"{fld}.env",
                        f"expected a variable of your own ({name} is passed to PAM modules)",
                    )
                return Answer(match=match, env=name, line=line)
            if not self.boolean(keys["ask"], f"{fld}.ask"):
                raise self.error(keys["ask"], f"{fld}.ask", "expected true")
            return Answer(match=match, ask=True, line=line)
        return Answer(match=match, literal=self.text(node, fld, allow_empty=True), line=line)

    def timeout(self, node: Node) -> float:
        value = self.scalar(node, "timeout")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise self.error(node, "timeout", "expected a number of seconds above 0")
        return float(value)

    def requires(self, node: Node) -> Requires:
        keys = self.mapping(node, "requires", REQUIRES_KEYS)
        root = self.boolean(keys["root"], "requires.root") if "root" in keys else False
        users = tuple(self.text_list(keys["users"], "requires.users")) if "users" in keys else ()
        services = (
            tuple(self.text_list(keys["services"], "requires.services"))
            if "services" in keys
            else ()
        )
        return Requires(root, users, services)

    def lesson(self, node: Node) -> Lesson:
        keys = self.mapping(node, "lesson", LESSON_KEYS)
        if "question" not in keys:
            raise self.error(node, "lesson.question", "expected a question")
        hints = tuple(self.text_list(keys["hints"], "lesson.hints")) if "hints" in keys else ()
        explanation = (
            self.text(keys["explanation"], "lesson.explanation") if "explanation" in keys else None
        )
        return Lesson(self.text(keys["question"], "lesson.question"), hints, explanation)

    # ---- steps ------------------------------------------------------------------------------

    def steps(self, node: Node, start_fails: bool) -> list[Step]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, "steps", "expected a list of steps like - authenticate")
        if start_fails and node.value:
            raise self.error(node, "steps", "expected no steps when expect_start is a failure")
        if not node.value and not start_fails:
            raise self.error(node, "steps", "expected at least one step")
        return [self.step(n, i) for i, n in enumerate(node.value)]

    def step(self, node: Node, index: int) -> Step:
        fld = f"steps[{index}]"
        line = node.start_mark.line + 1
        if isinstance(node, ScalarNode):
            word = self.text(node, fld)
            return self.call_step(word, None, fld, node, line)
        if not isinstance(node, MappingNode) or len(node.value) != 1:
            raise self.error(
                node,
                fld,
                "expected a step: a function name, or one function name with {flags, expect}",
            )
        key_node, value_node = node.value[0]
        word = self.text(key_node, fld)
        if word == ITEM_STEP:
            return self.item_step(value_node, f"{fld}.{word}", line)
        if word == PUTENV_STEP:
            return self.putenv_step(value_node, f"{fld}.{word}", line)
        return self.call_step(word, value_node, fld, key_node, line)

    def call_step(self, word: str, body: Node | None, fld: str, at: Node, line: int) -> Step:
        known = [f.short for f in Function] + [ITEM_STEP, PUTENV_STEP]
        try:
            op = parse_operation(word)
        except OperationError:
            raise self.error(at, fld, _unknown("step", word, known)) from None
        function, flags = op.function, op.flags
        fld = f"{fld}.{function.short}"
        options: dict[str, Node] = {}
        if body is not None and not (isinstance(body, ScalarNode) and self.scalar(body) is None):
            options = self.mapping(body, fld, STEP_KEYS)
        if "flags" in options:
            flags |= self.flags(options["flags"], f"{fld}.flags", function)
        elif flags & ~int(function.flags):
            raise self.error(at, f"{fld}.flags", self._flag_problem(function, flags))
        return Step(
            function.short, function, flags, expect=self.expectation(options, fld), line=line
        )

    def flags(self, node: Node, fld: str, function: Function) -> int:
        words = (
            self.text_list(node, fld)
            if not (isinstance(node, ScalarNode) and self.scalar(node) is None)
            else []
        )
        nodes = node.value if isinstance(node, SequenceNode) else [node] * len(words)
        flags = 0
        for word, sub in zip(words, nodes, strict=True):
            for part in word.split("|"):
                if not part.strip():
                    continue
                try:
                    flag = flag_by_name(part)
                except KeyError:
                    raise self.error(
                        sub, fld, _unknown("flag", part.strip(), [f.name or "" for f in Flag])
                    ) from None
                if not flag & function.flags:
                    raise self.error(sub, fld, self._flag_problem(function, int(flag)))
                flags |= int(flag)
        return flags

    @staticmethod
    def _flag_problem(function: Function, flags: int) -> str:
        bad = flag_names(flags & ~int(function.flags))
        accepted = ", ".join(flag_names(int(function.flags)))
        return f"expected flags of {function.value} ({accepted}), not {', '.join(bad)}"

    def expectation(self, options: dict[str, Node], fld: str) -> Expectation:
        codes: tuple[Code, ...] = (Code.PAM_SUCCESS,)
        if "expect" in options:
            codes = self.codes(options["expect"], f"{fld}.expect")
        messages = None
        if "expect_messages" in options:
            node = options["expect_messages"]
            if not isinstance(node, SequenceNode):
                raise self.error(
                    node,
                    f"{fld}.expect_messages",
                    "expected a list of patterns, one per message ([] for none)",
                )
            patterns = []
            for i, sub in enumerate(node.value):
                sub_fld = f"{fld}.expect_messages[{i}]"
                pattern = self.text(sub, sub_fld, allow_empty=True)
                try:
                    re.compile(pattern)
                except re.error as err:
                    raise self.error(
                        sub, sub_fld, f"expected a regular expression ({err})"
                    ) from None
                patterns.append(pattern)
            messages = tuple(patterns)
        env: dict[str, str | None] | None = None
        if "expect_env" in options:
            env = {}
            for key, (_, value) in self.string_map(
                options["expect_env"], f"{fld}.expect_env"
            ).items():
                if isinstance(value, ScalarNode) and value.tag.endswith(":null"):
                    env[key] = None  # the variable must be absent
                else:
                    env[key] = self.text(value, f"{fld}.expect_env.{key}", allow_empty=True)
        delay: bool | tuple[int, int] | None = None
        if "expect_fail_delay" in options:
            delay = self.fail_delay(options["expect_fail_delay"], f"{fld}.expect_fail_delay")
        return Expectation(codes, messages, env, delay)

    def fail_delay(self, node: Node, fld: str) -> bool | tuple[int, int]:
        expected = "expected true, false or [min, max] in microseconds"
        if isinstance(node, SequenceNode):
            values = [self.scalar(n) for n in node.value]
            if (
                len(values) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in values)
                or values[0] > values[1]
            ):
                raise self.error(node, fld, expected)
            return (values[0], values[1])
        value = self.scalar(node)
        if not isinstance(value, bool):
            raise self.error(node, fld, expected)
        return value

    def item_step(self, node: Node, fld: str, line: int) -> Step:
        if not isinstance(node, MappingNode) or not node.value:
            raise self.error(
                node, fld, "expected a mapping of items to set, like {tty: /dev/pts/1}"
            )
        values: dict[str, str] = {}
        codes: tuple[Code, ...] = (Code.PAM_SUCCESS,)
        rest = MappingNode(node.tag, [], node.start_mark, node.end_mark)
        for key_node, value_node in node.value:
            if self.scalar(key_node) == "expect":
                codes = self.codes(value_node, f"{fld}.expect")
            elif self.scalar(key_node) == "user":
                values["user"] = self.text(value_node, f"{fld}.user")
            else:
                rest.value.append((key_node, value_node))
        values.update(self.items(rest, fld))
        if not values:
            raise self.error(node, fld, "expected at least one item to set")
        return Step(ITEM_STEP, items=values, expect=Expectation(codes), line=line)

    def putenv_step(self, node: Node, fld: str, line: int) -> Step:
        codes: tuple[Code, ...] = (Code.PAM_SUCCESS,)
        entry_node = node
        if isinstance(node, MappingNode):
            keys = self.mapping(node, fld, ("entry", "expect"))
            if "entry" not in keys:
                raise self.error(node, f"{fld}.entry", "expected NAME=value or NAME")
            entry_node = keys["entry"]
            if "expect" in keys:
                codes = self.codes(keys["expect"], f"{fld}.expect")
        entry = self.text(entry_node, fld)
        if not _ENV_NAME.match(entry.split("=", 1)[0]):
            raise self.error(entry_node, fld, "expected NAME=value (set) or NAME (unset)")
        return Step(PUTENV_STEP, entry=entry, expect=Expectation(codes), line=line)


def _join(parent: str, key: str) -> str:
    return key if parent == "profile" else f"{parent}.{key}"


def _unknown(what: str, value: str, known: Any) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    shown = ", ".join(known) if len(known) <= 14 else ", ".join(known[:6]) + ", ..."
    return f"expected a known {what}{hint}, not {value!r} (known: {shown})"


# --------------------------------------------------------------------------------------------
# Saving


class _Literal(str):
    """Text written as a ``|`` block scalar."""


class _Flow(list[Any]):
    """A short list or mapping written on one line: ``[PAM_SILENT]``, ``{env: NAME}``."""


class _FlowMap(dict[str, Any]):
    pass


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent lists under their key, as people do


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(_Literal, _literal)
_Dumper.add_representer(
    _Flow, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)
_Dumper.add_representer(
    _FlowMap, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_Dumper.add_representer(str, _text)


def to_data(profile: Profile) -> dict[str, Any]:
    """The profile as plain data in the order a person writes it, defaults left out."""
    out: dict[str, Any] = {}
    if profile.title:
        out["name"] = profile.title
    if profile.description:
        out["description"] = profile.description
    out["service"] = profile.service
    if isinstance(profile.config, dict):
        out["config"] = {
            k: _Literal(v if v.endswith("\n") else v + "\n") for k, v in profile.config.items()
        }
    elif isinstance(profile.config, Path):
        out["config"] = _relative(profile.config, profile.path)
    elif profile.config != CONFIG_SYSTEM:
        out["config"] = profile.config
    if profile.user is not None:
        out["user"] = profile.user
    if profile.items:
        out["items"] = dict(profile.items)
    if profile.env:
        out["env"] = dict(profile.env)
    if profile.answers:
        out["answers"] = [_answer_data(a) for a in profile.answers]
    if profile.timeout is not None:
        out["timeout"] = profile.timeout
    req = profile.requires
    if req != Requires():
        out["requires"] = {
            k: v
            for k, v in (
                ("root", req.root),
                ("users", _Flow(req.users)),
                ("services", _Flow(req.services)),
            )
            if v
        }
    if profile.expect_start != (Code.PAM_SUCCESS,):
        out["expect_start"] = _codes_data(profile.expect_start)
    out["steps"] = [_step_data(s) for s in profile.steps]
    if profile.lesson is not None:
        lesson: dict[str, Any] = {"question": profile.lesson.question}
        if profile.lesson.hints:
            lesson["hints"] = list(profile.lesson.hints)
        if profile.lesson.explanation:
            lesson["explanation"] = profile.lesson.explanation
        out["lesson"] = lesson
    return out


def _relative(directory: Path, path: Path | None) -> str:
    if path is not None:
        try:
            return str(directory.relative_to(path.parent))
        except ValueError:
            pass
    return str(directory)


def _answer_data(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if answer.match is not None:
        out["match"] = answer.match
    if answer.env is not None:
        out["answer"] = _FlowMap(env=answer.env)
    elif answer.ask:
        out["answer"] = _FlowMap(ask=True)
    else:
        out["answer"] = answer.literal or ""
    return out


def _codes_data(codes: tuple[Code, ...]) -> str | list[str]:
    if not codes:
        return "any"
    return codes[0].name if len(codes) == 1 else _Flow(c.name for c in codes)


def _step_data(step: Step) -> Any:
    expect = step.expect
    if step.action == ITEM_STEP:
        body: dict[str, Any] = dict(step.items)
        if expect.codes != (Code.PAM_SUCCESS,):
            body["expect"] = _codes_data(expect.codes)
        return {ITEM_STEP: body}
    if step.action == PUTENV_STEP:
        if expect.codes != (Code.PAM_SUCCESS,):
            return {PUTENV_STEP: {"entry": step.entry, "expect": _codes_data(expect.codes)}}
        return {PUTENV_STEP: step.entry}
    options: dict[str, Any] = {}
    if step.flags:
        options["flags"] = _Flow(flag_names(step.flags))
    if expect.codes != (Code.PAM_SUCCESS,):
        options["expect"] = _codes_data(expect.codes)
    if expect.messages is not None:
        options["expect_messages"] = list(expect.messages)
    if expect.env is not None:
        options["expect_env"] = dict(expect.env)
    if expect.fail_delay is not None:
        delay = expect.fail_delay
        options["expect_fail_delay"] = _Flow(delay) if isinstance(delay, tuple) else delay
    return {step.action: options} if options else step.action


def dumps(profile: Profile) -> str:
    """YAML text that reads as if written by hand; never holds a secret value."""
    return yaml.dump(
        to_data(profile),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def save(profile: Profile, path: str | os.PathLike[str]) -> Path:
    """Write the profile to ``path`` and return the path.

    The text goes to a temporary file beside it that replaces the target only once complete,
    so an interrupted save leaves the old file whole. A new file gets mode 0600; an existing
    one keeps its mode.
    """
    target = Path(path)
    text = dumps(profile)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    profile.path = target
    return target


# --------------------------------------------------------------------------------------------
# Finding profiles


@dataclass(frozen=True)
class ProfileEntry:
    name: str
    title: str
    path: Path
    bundled: bool
    error: str | None = None


def bundled_dir() -> Path | None:
    """The curriculum shipped with pamexplorer: in the wheel, or the source checkout's."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_profiles", package.parent / "profiles"):
        if candidate.is_dir():
            return candidate
    return None


def user_dirs() -> list[Path]:
    """Directories of a person's own profiles, in search order."""
    dirs: list[Path] = []
    extra = os.environ.get("PAMEXPLORER_PROFILES")
    if extra:
        dirs.extend(Path(p).expanduser() for p in extra.split(os.pathsep) if p)
    dirs.append(Path.cwd() / "profiles")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs.append(Path(config) / "pamexplorer" / "profiles")
    bundled = bundled_dir()
    seen: set[Path] = set()
    out: list[Path] = []
    for d in dirs:
        resolved = d.resolve()
        if resolved in seen or (bundled is not None and resolved == bundled.resolve()):
            continue
        seen.add(resolved)
        out.append(d)
    return out


def _yaml_files(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(
            p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
        )


def discover() -> list[ProfileEntry]:
    """Every bundled and user profile; a user profile shadows a bundled one of the same name."""
    entries: list[ProfileEntry] = []
    seen: set[str] = set()
    sources: list[tuple[Path, bool]] = [(d, False) for d in user_dirs()]
    bundled = bundled_dir()
    if bundled is not None:
        sources.append((bundled, True))
    for directory, is_bundled in sources:
        for path in _yaml_files(directory):
            name = path.name.removesuffix(".yaml").removesuffix(".yml")
            if name in seen:
                continue
            seen.add(name)
            try:
                title = load(path).display_title
                error = None
            except ProfileError as err:
                title, error = name, str(err)
            entries.append(ProfileEntry(name, title, path, is_bundled, error))
    return entries


def resolve(reference: str) -> Path:
    """A path to an existing file, or the name of a user or bundled profile."""
    candidate = Path(reference).expanduser()
    if candidate.is_file():
        return candidate
    if "/" not in reference:
        stem = reference.removesuffix(".yaml").removesuffix(".yml")
        dirs = user_dirs()
        bundled = bundled_dir()
        if bundled is not None:
            dirs.append(bundled)
        for directory in dirs:
            for suffix in (".yaml", ".yml"):
                path = directory / f"{stem}{suffix}"
                if path.is_file():
                    return path
    raise ProfileError(
        reference,
        1,
        "profile",
        "expected a profile file or the name of a "
        "bundled or user profile (see: pamexplorer profiles)",
    )
