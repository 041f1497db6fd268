"""Read a profile: YAML nodes (with their lines, from :mod:`.source`) validated into the
frozen model.

Every problem is a :class:`ProfileError` reading ``FILE:LINE: field: what was expected``, on
one line. Text, numbers, regular expressions (:mod:`.patterns`) and ranges are checked as they
are read, so no input makes the reader recurse without end, hang or raise anything else.
"""

from __future__ import annotations

import difflib
import math
import os
import re
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
from pamexplorer.profile.model import (
    CONFIG_LAB,
    CONFIG_SYSTEM,
    Answer,
    AskAnswer,
    CallStep,
    Config,
    DirectoryConfig,
    EnvAnswer,
    Expectation,
    InlineConfig,
    Lesson,
    LiteralAnswer,
    Profile,
    ProfileError,
    PutenvStep,
    Requires,
    SetItemStep,
    Step,
    StepKind,
)
from pamexplorer.profile.patterns import pattern_problem
from pamexplorer.profile.source import Lines, compose, read_text

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
STEP_KEYS = (
    "flags",
    "expect",
    "expect_messages",
    "expect_env",
    "expect_fail_delay",
    "expect_decided_by",
    "expect_log",
)
#: ``expect_decided_by``: a rule as the trace names it (the service file's base name and its
#: line) or a module's file name (a path is reduced to its base name).
_RULE_WHERE = re.compile(r"^[^\s:]+:[1-9][0-9]{0,8}$")
_MODULE_NAME = re.compile(r"^\S*[^/\s:]\.so$")
DECIDED_BY_EXPECTED = (
    "expected the deciding rule as FILE:LINE, the service file's name and line as the trace "
    "names it (like common-account:19), or a module like pam_deny.so"
)
LESSON_KEYS = ("question", "hints", "explanation")
REQUIRES_KEYS = ("root", "users", "services")
#: Seconds a step's call may be given at most.
MAX_TIMEOUT = 86400.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE_NAME = re.compile(r"^[^/\s]+$")
#: A service is a file name (NAME_MAX bytes at most).
MAX_SERVICE_BYTES = 255


def load(path: str | os.PathLike[str]) -> Profile:
    """Read and validate one profile file; raises :class:`ProfileError`."""
    file = Path(path)
    return loads(read_text(file), file)


def loads(text: str, path: str | os.PathLike[str] | None = None) -> Profile:
    """Validate a profile given as text; ``path`` names it in errors and anchors relative
    ``config`` directories."""
    file = Path(path) if path is not None else None
    name = str(file) if file is not None else "<profile>"
    root, lines = compose(text, name)
    return _Reader(name, file, lines).profile(root)


class _Reader:
    def __init__(self, name: str, file: Path | None, lines: Lines) -> None:
        self.name = name
        self.file = file
        self.text_lines = lines
        self.lines: dict[str, int] = {}
        self.constructor = yaml.constructor.SafeConstructor()

    # ---- primitives -------------------------------------------------------------------------

    def line(self, node: Node) -> int:
        return self.text_lines.line(node.start_mark.index)

    def error(self, node: Node | None, fld: str, expected: str) -> ProfileError:
        line = self.line(node) if node is not None else 1
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
        if "\0" in value:
            raise self.error(node, fld, "expected text without NUL characters")
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
            self.lines[key] = self.line(node)
        for required in ("service", "steps"):
            if required not in top:
                raise self.error(root, required, f"expected a {required} key")
        service = self.text(top["service"], "service")
        if not _SERVICE_NAME.match(service):
            raise self.error(
                top["service"], "service", "expected a service name without '/' or spaces"
            )
        if len(service.encode("utf-8", "surrogateescape")) > MAX_SERVICE_BYTES:
            raise self.error(
                top["service"], "service", f"expected a name of at most {MAX_SERVICE_BYTES} bytes"
            )
        # Validated in the order a person reads the file's keys, as the first problem shows.
        title = self.text(top["name"], "name") if "name" in top else None
        description = self.text(top["description"], "description") if "description" in top else None
        config = self.config(top["config"]) if "config" in top else CONFIG_SYSTEM
        user = self.optional_text(top["user"], "user") if "user" in top else None
        items = self.items(top["items"], "items") if "items" in top else {}
        env = self.env(top["env"]) if "env" in top else {}
        answers = self.answers(top["answers"]) if "answers" in top else ()
        timeout = self.timeout(top["timeout"]) if "timeout" in top else None
        requires = self.requires(top["requires"]) if "requires" in top else Requires()
        expect_start: tuple[Code, ...] = (Code.PAM_SUCCESS,)
        if "expect_start" in top:
            expect_start = self.codes(top["expect_start"], "expect_start")
        start_fails = Code.PAM_SUCCESS not in expect_start and bool(expect_start)
        steps = self.steps(top["steps"], start_fails)
        lesson = self.lesson(top["lesson"]) if "lesson" in top else None
        return Profile(
            service=service,
            steps=steps,
            title=title,
            description=description,
            config=config,
            user=user,
            items=items,
            env=env,
            answers=answers,
            timeout=timeout,
            requires=requires,
            expect_start=expect_start,
            lesson=lesson,
            path=self.file,
            lines=self.lines,
        )

    def optional_text(self, node: Node, fld: str) -> str | None:
        if isinstance(node, ScalarNode) and self.scalar(node, fld) is None:
            return None
        return self.text(node, fld)

    def config(self, node: Node) -> Config:
        if isinstance(node, MappingNode):
            files: dict[str, str] = {}
            for key, (name, body) in self.string_map(node, "config").items():
                fld = f"config.{key}"
                if not _SERVICE_NAME.match(name) or name in (".", ".."):
                    raise self.error(body, fld, "expected a service file name without '/'")
                if len(name.encode("utf-8", "surrogateescape")) > MAX_SERVICE_BYTES:
                    raise self.error(
                        body, fld, f"expected a file name of at most {MAX_SERVICE_BYTES} bytes"
                    )
                files[name] = self.text(body, fld, allow_empty=True)
            if not files:
                raise self.error(node, "config", "expected at least one service file")
            return InlineConfig(files)
        value = self.text(node, "config")
        for named in (CONFIG_SYSTEM, CONFIG_LAB):
            if value == named.kind:
                return named
        directory = Path(value).expanduser()
        if not directory.is_absolute() and self.file is not None:
            directory = self.file.parent / directory
        try:
            is_dir = directory.is_dir()
        except OSError:  # a name too long, say
            is_dir = False
        if not is_dir:
            raise self.error(
                node,
                "config",
                "expected system, lab, an existing directory "
                f"or a mapping of service files ({quoted(value)} is not a directory)",
            )
        return DirectoryConfig(directory)

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

    def answers(self, node: Node) -> tuple[Answer, ...]:
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
                match = self.pattern(keys["match"], f"{fld}.match", allow_empty=False)
            out.append(self.answer(keys["answer"], f"{fld}.answer", match, self.line(entry)))
        return tuple(out)

    def pattern(self, node: Node, fld: str, *, allow_empty: bool) -> str:
        value = self.text(node, fld, allow_empty=allow_empty)
        problem = pattern_problem(value)
        if problem is not None:
            raise self.error(node, fld, problem)
        return value

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
                return EnvAnswer(name, match=match, line=line)
            if not self.boolean(keys["ask"], f"{fld}.ask"):
                raise self.error(keys["ask"], f"{fld}.ask", "expected true")
            return AskAnswer(match=match, line=line)
        return LiteralAnswer(self.text(node, fld, allow_empty=True), match=match, line=line)

    def timeout(self, node: Node) -> float:
        value = self.scalar(node, "timeout")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
            or value > MAX_TIMEOUT
        ):
            raise self.error(
                node, "timeout", f"expected a number of seconds above 0, at most {MAX_TIMEOUT:g}"
            )
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

    def steps(self, node: Node, start_fails: bool) -> tuple[Step, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, "steps", "expected a list of steps like - authenticate")
        if start_fails and node.value:
            raise self.error(node, "steps", "expected no steps when expect_start is a failure")
        if not node.value and not start_fails:
            raise self.error(node, "steps", "expected at least one step")
        return tuple(self.step(n, i) for i, n in enumerate(node.value))

    def step(self, node: Node, index: int) -> Step:
        fld = f"steps[{index}]"
        line = self.line(node)
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
        if word == StepKind.SET_ITEM:
            return self.item_step(value_node, f"{fld}.{word}", line)
        if word == StepKind.PUTENV:
            return self.putenv_step(value_node, f"{fld}.{word}", line)
        return self.call_step(word, value_node, fld, key_node, line)

    def call_step(self, word: str, body: Node | None, fld: str, at: Node, line: int) -> CallStep:
        known = [f.short for f in Function] + [StepKind.SET_ITEM.value, StepKind.PUTENV.value]
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
        return CallStep(function, flags, expect=self.expectation(options, fld), line=line)

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
            messages = self.patterns(
                options["expect_messages"],
                f"{fld}.expect_messages",
                "one per message ([] for none)",
                allow_empty=True,
            )
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
        decided_by = None
        if "expect_decided_by" in options:
            decided_by = self.decided_by(options["expect_decided_by"], f"{fld}.expect_decided_by")
        log = None
        if "expect_log" in options:
            log = self.patterns(
                options["expect_log"],
                f"{fld}.expect_log",
                "each found in some log line of the call ([] for none logged)",
                allow_empty=False,
            )
        return Expectation(
            codes=codes,
            messages=messages,
            env=env,
            fail_delay=delay,
            decided_by=decided_by,
            log=log,
        )

    def patterns(self, node: Node, fld: str, what: str, *, allow_empty: bool) -> tuple[str, ...]:
        """A list of regular expressions: ``expected a list of patterns, WHAT`` otherwise."""
        if not isinstance(node, SequenceNode):
            raise self.error(node, fld, f"expected a list of patterns, {what}")
        return tuple(
            self.pattern(sub, f"{fld}[{i}]", allow_empty=allow_empty)
            for i, sub in enumerate(node.value)
        )

    def decided_by(self, node: Node, fld: str) -> str:
        value = self.text(node, fld).strip()
        if len(value) > 4096 or not (_RULE_WHERE.match(value) or _MODULE_NAME.match(value)):
            raise self.error(node, fld, f"{DECIDED_BY_EXPECTED}, not {quoted(value)}")
        head, _, tail = value.rpartition(":")
        if _RULE_WHERE.match(value) and "/" in head:  # /etc/pam.d/common-account:19
            head = head.rsplit("/", 1)[-1]
            if not head:
                raise self.error(node, fld, f"{DECIDED_BY_EXPECTED}, not {quoted(value)}")
            return f"{head}:{tail}"
        return value.rsplit("/", 1)[-1] if _MODULE_NAME.match(value) else value

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

    def item_step(self, node: Node, fld: str, line: int) -> SetItemStep:
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
        return SetItemStep(values, expect=Expectation(codes=codes), line=line)

    def putenv_step(self, node: Node, fld: str, line: int) -> PutenvStep:
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
        return PutenvStep(entry, expect=Expectation(codes=codes), line=line)


def _join(parent: str, key: str) -> str:
    return key if parent == "profile" else f"{parent}.{key}"


def _unknown(what: str, value: str, known: Any) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    shown = ", ".join(known) if len(known) <= 14 else ", ".join(known[:6]) + ", ..."
    return f"expected a known {what}{hint}, not {quoted(value)} (known: {shown})"


def quoted(value: str, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters: an error stays one readable line
    even when the value is a megabyte long."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[: limit - 3]) + f"... ({len(value)} characters)"
