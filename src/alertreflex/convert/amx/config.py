"""prometheus-am-executor's config file, read as am-executor reads it, only stricter."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alertreflex.config.loader import ConfigError, Problem
from alertreflex.config.yamlfile import LocatedDocument, YamlError, load_yaml
from alertreflex.core.paths import Path, format_path

TOP_FIELDS = ("listen_address", "verbose", "tls_key", "tls_crt", "commands")
COMMAND_FIELDS = (
    "cmd",
    "args",
    "match_labels",
    "max",
    "notify_on_failure",
    "ignore_resolved",
    "resolved_signal",
)
# The signal names am-executor's resolved_signal accepts (upper-cased before lookup).
SIGNALS = frozenset(
    {
        *("SIGABRT", "SIGALRM", "SIGBUS", "SIGCHLD", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL"),
        *("SIGINT", "SIGIO", "SIGIOT", "SIGKILL", "SIGPIPE", "SIGPROF", "SIGQUIT", "SIGSEGV"),
        *("SIGSTOP", "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG"),
        *("SIGUSR1", "SIGUSR2", "SIGVTALRM", "SIGWINCH", "SIGXCPU", "SIGXFSZ"),
    }
)


class AmxConfigError(ConfigError):
    """The am-executor config cannot be converted; ``problems`` lists why and where."""


@dataclass(frozen=True)
class AmxCommand:
    """One entry of ``commands``, with am-executor's defaults filled in."""

    index: int
    line: int
    cmd: str
    args: tuple[str, ...] = ()
    match_labels: dict[str, str] = field(default_factory=dict)
    max: int = 0  # 0 or less: no limit
    notify_on_failure: bool | None = None  # None: not set (am-executor's default is true)
    ignore_resolved: bool = False
    resolved_signal: str | None = None

    @property
    def argv(self) -> list[str]:
        return [self.cmd, *self.args]

    def same_as(self, other: AmxCommand) -> bool:
        """am-executor's notion of a duplicate: cmd, args and match_labels equal."""
        return (self.cmd, self.args, self.match_labels) == (
            other.cmd,
            other.args,
            other.match_labels,
        )


@dataclass(frozen=True)
class AmxConfig:
    file: str
    commands: tuple[AmxCommand, ...]
    listen_address: str | None = None
    verbose: bool | None = None
    tls_key: str | None = None
    tls_crt: str | None = None


def parse_amx_config(text: str, filename: str) -> AmxConfig:
    """Read an am-executor YAML config; raise AmxConfigError naming every problem.

    Stricter than am-executor, which ignores unknown fields: a misspelt field there
    silently did nothing, and converting it would hide that.
    """
    try:
        doc = load_yaml(text)
    except YamlError as exc:
        raise AmxConfigError([Problem(filename, exc.line, "", exc.message)]) from None
    return _Parser(filename, doc).config()


class _Parser:
    def __init__(self, filename: str, doc: LocatedDocument) -> None:
        self.file = filename
        self.doc = doc
        self.problems: list[Problem] = []

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(Problem(self.file, self.doc.line_of(path), format_path(path), message))

    def config(self) -> AmxConfig:
        data = self.doc.data
        if data is None:
            raise AmxConfigError([Problem(self.file, 1, "", "empty file: expected 'commands'")])
        if not isinstance(data, dict):
            self.problem((), "expected a mapping with 'commands' (am-executor's config format)")
            raise AmxConfigError(self.problems)
        self.unknown_fields((), data, TOP_FIELDS)
        listen = self.string(("listen_address",), data.get("listen_address"))
        verbose = self.boolean(("verbose",), data.get("verbose"))
        tls_key = self.string(("tls_key",), data.get("tls_key"))
        tls_crt = self.string(("tls_crt",), data.get("tls_crt"))
        commands = self.commands(data.get("commands"))
        if self.problems:
            raise AmxConfigError(self.problems)
        return AmxConfig(self.file, tuple(commands), listen, verbose, tls_key, tls_crt)

    def commands(self, raw: Any) -> list[AmxCommand]:
        if raw is None:
            self.problem((), "no 'commands': nothing to convert")
            return []
        if not isinstance(raw, list) or not raw:
            self.problem(("commands",), "must be a non-empty list of commands")
            return []
        out = []
        for i, item in enumerate(raw):
            at: Path = ("commands", i)
            if not isinstance(item, dict):
                self.problem(at, "a command must be a mapping with 'cmd'")
                continue
            command = self.command(i, at, item)
            if command is not None:
                out.append(command)
        return out

    def command(self, i: int, at: Path, raw: dict[str, Any]) -> AmxCommand | None:
        before = len(self.problems)
        self.unknown_fields(at, raw, COMMAND_FIELDS)
        cmd = raw.get("cmd")
        if cmd is None:
            self.problem(at, "missing 'cmd': the program to run")
        elif not isinstance(cmd, str) or not cmd:
            self.problem((*at, "cmd"), "must be a non-empty string: the program to run")
        args = self.strings((*at, "args"), raw.get("args"))
        labels = self.labels((*at, "match_labels"), raw.get("match_labels"))
        limit = raw.get("max")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            self.problem((*at, "max"), f"must be a whole number, got {_show(limit)}")
        signal = self.signal((*at, "resolved_signal"), raw.get("resolved_signal"))
        notify = self.boolean((*at, "notify_on_failure"), raw.get("notify_on_failure"))
        ignore = self.boolean((*at, "ignore_resolved"), raw.get("ignore_resolved"))
        if len(self.problems) > before or not isinstance(cmd, str):
            return None
        return AmxCommand(
            index=i,
            line=self.doc.line_of(at),
            cmd=cmd,
            args=tuple(args),
            match_labels=labels,
            max=limit if isinstance(limit, int) else 0,
            notify_on_failure=notify,
            ignore_resolved=bool(ignore),
            resolved_signal=signal,
        )

    def unknown_fields(self, at: Path, raw: dict[str, Any], known: Sequence[str]) -> None:
        for key in raw:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
            self.problem(
                (*at, key),
                f"unknown field{hint}; am-executor ignores unknown fields, so it never "
                "had an effect there",
            )

    def string(self, at: Path, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        self.problem(at, f"must be a string, got {_show(value)}")
        return None

    def boolean(self, at: Path, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        self.problem(at, f"must be true or false, got {_show(value)}")
        return None

    def strings(self, at: Path, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(at, f"must be a list of strings, got {_show(value)}")
            return []
        for j, item in enumerate(value):
            if not isinstance(item, str):
                self.problem((*at, j), _quote_hint(item))
        return [item for item in value if isinstance(item, str)]

    def labels(self, at: Path, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(at, f"must be a mapping of label names to values, got {_show(value)}")
            return {}
        out: dict[str, str] = {}
        for name, item in value.items():
            # Any non-empty text: am-executor compares names as given, and since
            # Prometheus 3 alerts may carry UTF-8 names ("service.name").
            if not isinstance(name, str) or not name:
                self.problem(
                    (*at, str(name)),
                    f"{name!r} is not a label name (a non-empty text): no alert carries it",
                )
            elif not isinstance(item, str):
                self.problem((*at, name), _quote_hint(item))
            else:
                out[name] = item
        return out

    def signal(self, at: Path, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if isinstance(value, str) and (value.isdigit() or value.upper() in SIGNALS):
            return value if value.isdigit() else value.upper()
        self.problem(
            at,
            f"unknown signal {_show(value)}: am-executor refuses it at start; use a name "
            "such as SIGTERM or SIGUSR1, or a number",
        )
        return None


def _quote_hint(value: Any) -> str:
    return (
        f"must be a string, got {_show(value)}: YAML read it as {type(value).__name__}; "
        "quote it so that it is compared and passed as the text you wrote"
    )


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)
