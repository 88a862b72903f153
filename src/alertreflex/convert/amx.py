"""prometheus-am-executor configs to alertreflex reflexes, with remarks on the differences.

What am-executor does, from its source (github.com/imgix/prometheus-am-executor, the
releases whose commands know ``max``, ``ignore_resolved`` and ``resolved_signal``):

* A notification with status ``firing`` starts every command whose ``match_labels``
  all equal the notification's *common* labels (no ``match_labels``: every command).
  Commands get am-executor's own environment plus ``AMX_*`` variables describing the
  whole group; their output goes to am-executor's log; nothing times them out.
* ``max`` (0 or less: no limit) caps the instances running at once per alert
  fingerprint (of the first alert that matches); past it the command is skipped.
* A notification with status ``resolved`` starts nothing: it sends ``resolved_signal``
  (a signal name such as ``SIGTERM`` or a number; default SIGKILL) to the instances
  still running for that fingerprint, unless ``ignore_resolved`` is true.
* The webhook answers after the commands end, with HTTP 500 if one failed and its
  ``notify_on_failure`` is true (the default): Alertmanager then sends the notification
  again, and the commands run again.
* Identical commands (same ``cmd``, ``args`` and ``match_labels``) are kept once.

Earlier releases, before those fields existed, ran the commands for every
notification, resolved ones included: ``--run-on-resolved`` reproduces that.

Converted ``exec`` steps have ``amx_env: true``: alertreflex sets the ``AMX_*``
variables itself for the run's one alert, every label and annotation included
(``alertreflex.actions.amx_env``). The command's script files are read only to say
when one reads ``AMX_ALERT_<n>`` past the first alert.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from alertreflex.config.loader import Problem
from alertreflex.config.schema import REFLEX_NAME, Settings
from alertreflex.config.yamlfile import LocatedDocument, YamlError, load_yaml
from alertreflex.core.matchers import LABEL_NAME_PATTERN, Matcher, MatchOp
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
DEFAULT_TIMEOUT = "1h"
# A command run through one of these is named after its script, not after the interpreter.
_INTERPRETERS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "env", "python", "python3", "perl", "ruby", "node", "php"}
)
_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)
_REFLEX_NAME = re.compile(REFLEX_NAME)
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9_]+")
_MAX_NAME = 63
# AMX_ALERT_<n>_STATUS, _LABEL_x and their kin, as a script would spell them: <n> may
# be a shell expansion such as ${i}.
_SCRIPT_ALERT_VAR = re.compile(
    r"AMX_ALERT_([0-9]+|[^_\s]*)_(?:STATUS|START|END|URL|FINGERPRINT|LABEL_|ANNOTATION_)"
)
_SCRIPT_MAX_BYTES = 1024 * 1024


class AmxConfigError(ValueError):
    """The am-executor config cannot be converted; ``problems`` lists why and where."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


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
            if not _LABEL_NAME.fullmatch(name):
                self.problem(
                    (*at, name),
                    f"{name!r} is not a label name ({LABEL_NAME_PATTERN}): no alert carries it",
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


# --- conversion ------------------------------------------------------------------


@dataclass(frozen=True)
class ConvertOptions:
    team: str | None = None  # for commands whose match_labels do not name the team
    ownership_label: str = "team"
    timeout: str = DEFAULT_TIMEOUT
    run_on_resolved: bool = False
    scan_scripts: bool = True  # read script files for AMX_ALERT_<n> past the first
    # Where relative script paths are looked up besides the working directory.
    script_dirs: tuple[FsPath, ...] = ()


@dataclass
class ConvertedReflex:
    command: AmxCommand
    reflex: dict[str, Any]
    remarks: list[str]


@dataclass
class Conversion:
    """The reflexes and the remarks: general ones, and one list per reflex."""

    source: str
    reflexes: list[ConvertedReflex]
    remarks: list[str]
    skipped: list[tuple[AmxCommand, str]] = field(default_factory=list)  # duplicates

    def messages(self) -> list[str]:
        """Every remark as one line: ``file:line: commands[i]: text`` or ``file: text``."""
        out = [f"{self.source}: {text}" for text in self.remarks]
        for cmd, text in self.skipped:
            out.append(f"{self.source}:{cmd.line}: commands[{cmd.index}]: {text}")
        for r in self.reflexes:
            where = f"{self.source}:{r.command.line}: commands[{r.command.index}]"
            out.extend(f"{where}: {text}" for text in r.remarks)
        return out

    def to_yaml(self) -> str:
        lines = [
            f"# Converted from the prometheus-am-executor config {_one_line(self.source)}",
            "# by `alertreflex convert-amx`; check it with `alertreflex check FILE`.",
            "# What maps and what behaves differently:",
            "#",
        ]
        for text in self.remarks:
            lines.extend(_comment(text, ""))
        for cmd, text in self.skipped:
            lines.extend(_comment(f"commands[{cmd.index}] (line {cmd.line}): {text}", ""))
        lines.append("reflexes:")
        for r in self.reflexes:
            c = r.command
            lines.append(
                f"  # commands[{c.index}] (line {c.line}): {_one_line(shlex.join(c.argv))}"
            )
            for text in r.remarks:
                lines.extend(_comment(text, "  "))
            body = yaml.dump([r.reflex], Dumper=_Dumper, **_DUMP_OPTIONS)
            lines.extend("  " + line for line in body.splitlines())
        return "\n".join(lines) + "\n"


def convert_amx(config: AmxConfig, options: ConvertOptions | None = None) -> Conversion:
    """Turn each distinct command into one reflex; raise AmxConfigError if a team is missing."""
    opts = options or ConvertOptions()
    kept: list[AmxCommand] = []
    skipped: list[tuple[AmxCommand, str]] = []
    for cmd in config.commands:
        first = next((k for k in kept if k.same_as(cmd)), None)
        if first is None:
            kept.append(cmd)
        else:
            skipped.append(
                (
                    cmd,
                    f"the same command as commands[{first.index}] (line {first.line}): "
                    "am-executor keeps only the first of identical commands (cmd, args and "
                    "match_labels), and so does this conversion",
                )
            )
    problems = [
        Problem(
            config.file,
            cmd.line,
            f"commands[{cmd.index}]",
            f"no team: match_labels has no {opts.ownership_label!r} label and no --team "
            "was given; every alertreflex reflex belongs to a team (the alert label "
            f"{opts.ownership_label!r}), which must be known",
        )
        for cmd in kept
        if not cmd.match_labels.get(opts.ownership_label) and not opts.team
    ]
    if problems:
        raise AmxConfigError(problems)

    names: set[str] = set()
    reflexes = [_ReflexBuilder(config, cmd, opts, names).build() for cmd in kept]
    return Conversion(config.file, reflexes, _general_remarks(config, opts), skipped)


class _ReflexBuilder:
    def __init__(
        self, config: AmxConfig, cmd: AmxCommand, opts: ConvertOptions, taken: set[str]
    ) -> None:
        self.config = config
        self.cmd = cmd
        self.opts = opts
        self.taken = taken
        self.remarks: list[str] = []

    def build(self) -> ConvertedReflex:
        cmd, opts = self.cmd, self.opts
        label = opts.ownership_label
        team = cmd.match_labels.get(label) or opts.team or ""
        matchers = {k: v for k, v in cmd.match_labels.items() if k != label}
        name = self.unique_name(matchers)
        step: dict[str, Any] = {
            "name": _step_name(cmd),
            "exec": {
                "command": _Flow(_literal(arg) for arg in cmd.argv),
                "timeout": opts.timeout,
                "amx_env": True,
            },
        }
        reflex: dict[str, Any] = {
            "name": name,
            "team": team,
            "description": (
                f"Converted from prometheus-am-executor: commands[{cmd.index}] of "
                f"{self.config.file} (line {cmd.line})"
            ),
            "match": _Flow(str(Matcher(k, MatchOp.EQUAL, v)) for k, v in matchers.items()),
            "on_firing": [step],
        }
        if opts.run_on_resolved and not cmd.ignore_resolved:
            reflex["on_resolved"] = [step]
        reflex["max_concurrent"] = cmd.max if cmd.max > 0 else _unlimited()
        if not cmd.ignore_resolved:
            reflex["cancel_on_resolve"] = True

        if not cmd.match_labels.get(label):
            anything = "any alert that matched" if cmd.match_labels else "every alert"
            self.remarks.append(
                f"team {team!r} comes from --team: the reflex only sees alerts labelled "
                f'{label}="{team}", where am-executor ran the command for {anything}.'
            )
        self.match_remarks(matchers)
        self.resolved_remarks()
        self.limit_remark()
        if cmd.notify_on_failure is False:
            self.remarks.append(
                "notify_on_failure: false: am-executor only logged a failure; here every "
                "failed run is recorded with its output and counted, as any other."
            )
        self.command_remarks()
        if opts.scan_scripts:
            self.script_remarks()
        return ConvertedReflex(cmd, reflex, self.remarks)

    def unique_name(self, matchers: dict[str, str]) -> str:
        parts = [_program_name(self.cmd)]
        if "alertname" in matchers:
            parts.append(matchers["alertname"])
        parts.extend(v for k, v in sorted(matchers.items()) if k != "alertname")
        base = "-".join(p for p in (_slug(part) for part in parts) if p)[:_MAX_NAME].rstrip("-_")
        if not _REFLEX_NAME.fullmatch(base):
            base = "amx-command"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}-{n}"
        self.taken.add(name)
        return name

    def script_remarks(self) -> None:
        """Scripts that look at alerts past the first: each run here has one."""
        scripts = []
        for arg in self.cmd.argv:
            path = _script_file(arg, self.opts.script_dirs)
            if path is not None and _reads_alerts_past_first(path):
                scripts.append(str(path))
        if scripts:
            self.remarks.append(
                f"{', '.join(sorted(set(scripts)))}: reads AMX_ALERT_<n> variables past the "
                "first alert, but each run here sees one alert (AMX_ALERT_LEN=1)."
            )

    def match_remarks(self, matchers: dict[str, str]) -> None:
        for name, value in matchers.items():
            if value == "":
                self.remarks.append(
                    f"match_labels.{name} is empty: am-executor wanted the label present "
                    "with an empty value, which Prometheus alerts never have (it drops empty "
                    f'labels); {name}="" here matches alerts without the label.'
                )

    def resolved_remarks(self) -> None:
        cmd = self.cmd
        if cmd.ignore_resolved:
            text = (
                "ignore_resolved: true: a command still running when its alert resolves "
                "is left to finish, here too (no cancel_on_resolve)."
            )
            if cmd.resolved_signal:
                text += f" Its resolved_signal {cmd.resolved_signal} was unused there as well."
            if self.opts.run_on_resolved:
                text += " --run-on-resolved adds no on_resolved step to it, for the same reason."
            self.remarks.append(text)
            return
        sig = cmd.resolved_signal
        if sig is None or sig in ("SIGKILL", "9"):
            sent = "killed it (SIGKILL" + (", its resolved_signal)" if sig else ", the default)")
            self.remarks.append(
                f"When the alert resolves while the command runs, am-executor {sent}; "
                "cancel_on_resolve: true does the same, to the command's whole process "
                "group (am-executor signalled only the command's own process), and records "
                "the run as cancelled."
            )
        else:
            self.remarks.append(
                f"When the alert resolves while the command runs, am-executor sent it {sig} "
                "(resolved_signal); cancel_on_resolve: true sends SIGKILL instead, to its "
                f"whole process group, so the command gets no chance to act on {sig}. If "
                "it cleans up then, move that into an on_resolved step, which runs after "
                "the cancellation."
            )
        if self.opts.run_on_resolved:
            self.remarks.append(
                "on_resolved runs the command again when the alert resolves, with "
                "AMX_STATUS=resolved (--run-on-resolved)."
            )

    def limit_remark(self) -> None:
        n = self.cmd.max
        if n > 0:
            self.remarks.append(
                f"max: {n} became max_concurrent: {n}. am-executor counted the instances "
                "running for one alert fingerprint and skipped a notification past the "
                "limit; alertreflex counts the runs of this reflex over all its alerts and "
                "queues the rest, and one alert episode starts one firing run anyway."
            )
        else:
            self.remarks.append(
                f"No max: am-executor started any number at once; max_concurrent: "
                f"{_unlimited()} here (all reflexes together stay within "
                f"settings.max_concurrent_runs, default {_unlimited()})."
            )

    def command_remarks(self) -> None:
        cmd = self.cmd.cmd
        if "/" in cmd and not cmd.startswith("/"):
            self.remarks.append(
                f"cmd {_one_line(cmd)} is a relative path: alertreflex resolves it against "
                "its own working directory; an absolute path is safer."
            )
        if any(ch.isspace() for ch in cmd):
            self.remarks.append(
                f"cmd {_one_line(cmd)} contains whitespace: like am-executor, alertreflex "
                "runs it as one program name, not as a shell command line."
            )


def _general_remarks(config: AmxConfig, opts: ConvertOptions) -> list[str]:
    label = opts.ownership_label
    out = [
        "am-executor runs a command once per notification: for a whole alert group, and "
        "again at each group change and every repeat_interval while it fires. alertreflex "
        "runs a reflex once per alert episode (one alert's fingerprint and startsAt): "
        "Alertmanager's repeats start nothing, and a group of three alerts starts three "
        "runs, one per alert (AMX_ALERT_LEN=1).",
        "match_labels were compared with the labels common to all alerts of a "
        "notification; here each alert's own labels must equal them (Alertmanager '=' "
        f"matchers), and a reflex only sees alerts of its team (label {label!r}).",
        "am-executor never started a command for a resolved notification; neither do these "
        "reflexes unless converted with --run-on-resolved, which adds an on_resolved step "
        "running the command again with AMX_STATUS=resolved, as am-executor releases "
        "before ignore_resolved did.",
        "Failures: am-executor answered Alertmanager after its commands ended, with HTTP "
        "500 when one failed (notify_on_failure, default true), so Alertmanager sent the "
        "notification again and the commands ran again. alertreflex answers once the "
        "notification is stored and never re-runs on its own: each run is kept with its "
        "state and output (alertreflex runs --state failed), counted in "
        'alertreflex_runs_total{outcome="failed"}, alerted on by the shipped '
        "AlertreflexRunsFailing rule; max_failures stops a reflex that keeps failing and "
        "alertreflex rerun runs one again.",
        "Environment: amx_env: true gives commands the AMX_* variables am-executor set, "
        "for their one alert: AMX_LABEL_<name> and AMX_ANNOTATION_<name> (and their "
        "AMX_ALERT_1_ twins) for every label and annotation of the alert, AMX_GLABEL_<name> "
        "for the group labels, AMX_ALERT_1_START and _END in seconds since the epoch (0 "
        "while firing). A name keeps its case; characters other than letters, digits and "
        "_ (Prometheus 3 allows them) become _. Commands also get alertreflex's ALERT_* "
        "variables and the alert as JSON on stdin. They no longer inherit the server's "
        "environment, only PATH, HOME, LANG, LC_ALL, TZ and USER: add what a script needs "
        "to its env.",
        f"am-executor let a command run as long as it liked and logged its output; here "
        f"timeout: {opts.timeout} kills its process group after that long (--timeout), and "
        "stdout and stderr are kept in the run.",
    ]
    if opts.ownership_label != "team":
        out.append(
            f"The team comes from the label {label!r}: alertreflex's "
            f"settings.ownership_label must be {label!r} as well."
        )
    listen = config.listen_address
    was = f"listened on {_one_line(listen)!r} and " if listen else ""
    out.append(
        f"am-executor {was}took notifications on any path; alertreflex listens where "
        "alertreflex serve --listen HOST:PORT says and takes them on /webhook: point "
        "Alertmanager's webhook_configs url at http://HOST:PORT/webhook, with "
        "send_resolved: true so that resolves reach it. Beyond loopback, alertreflex needs "
        "settings.auth (docs/auth.md); settings.webhook_auth checks Alertmanager's "
        "credentials."
    )
    if config.verbose:
        out.append("verbose: true is alertreflex serve --log-level debug.")
    if config.tls_key or config.tls_crt:
        out.append(
            "tls_key/tls_crt: alertreflex serves plain HTTP; terminate TLS in a reverse "
            "proxy in front of it, or keep Alertmanager and alertreflex on one host."
        )
    return out


# --- script files --------------------------------------------------------------------


def _reads_alerts_past_first(path: FsPath) -> bool:
    """Whether the text file ``path`` names an AMX_ALERT_<n> variable other than n=1."""
    try:
        with path.open("rb") as f:
            data = f.read(_SCRIPT_MAX_BYTES)
    except OSError:
        return False
    if b"\0" in data[:8192]:
        return False  # a compiled program: nothing to learn from it
    text = data.decode("utf-8", errors="replace")
    return any(m.group(1) != "1" for m in _SCRIPT_ALERT_VAR.finditer(text))


def _script_file(arg: str, dirs: Iterable[FsPath]) -> FsPath | None:
    """``arg`` as a script file that exists, or None (a plain argument, a program on PATH)."""
    if "/" not in arg or "\0" in arg:
        return None
    candidates = [FsPath(arg)]
    if not arg.startswith("/"):
        candidates.extend(d / arg for d in dirs)
    for path in candidates:
        try:
            if path.is_file():
                return path
        except OSError:
            continue
    return None


# --- rendering -----------------------------------------------------------------------


def _unlimited() -> int:
    limit: int = Settings.model_fields["max_concurrent_runs"].default
    return limit


def _program_name(cmd: AmxCommand) -> str:
    """What the command is called: its program, or the script an interpreter runs."""
    name = FsPath(cmd.cmd).name
    if name in _INTERPRETERS:
        for arg in cmd.args:
            base = FsPath(arg).name
            if base and not arg.startswith("-") and base not in _INTERPRETERS:
                name = base
                break
    return FsPath(name).stem if "." in name.lstrip(".") else name


def _step_name(cmd: AmxCommand) -> str:
    return _one_line(FsPath(cmd.cmd).name or cmd.cmd)


def _slug(text: str) -> str:
    return _NOT_NAME_CHAR.sub("-", text.lower()).strip("-_")


def _literal(text: str) -> str:
    """``text`` as a template that renders to itself: alertreflex renders every string
    of a step, am-executor passed its arguments as written."""
    if not any(mark in text for mark in ("{{", "{%", "{#")):
        return text
    escaped = "".join(
        "\\\\"
        if ch == "\\"
        else "\\'"
        if ch == "'"
        else f"\\x{ord(ch):02x}"
        if ord(ch) < 32
        else ch
        for ch in text
    )
    return "{{ '" + escaped + "' }}"


def _one_line(text: str) -> str:
    """User text inside a one-line comment or remark: control characters escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _comment(text: str, indent: str, width: int = 92) -> list[str]:
    words = _one_line(text).split(" ")
    lines: list[str] = []
    line = "- "
    for word in words:
        if len(line) + len(word) > width - len(indent) and line.strip() not in ("", "-"):
            lines.append(line.rstrip())
            line = "  "
        line += word + " "
    lines.append(line.rstrip())
    return [f"{indent}# {part}" for part in lines]


class _Flow(list[str]):
    """A list written on one line, ``[a, b]``: argv and matchers read best that way."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent block lists under their key, as the project's examples do.
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # on_firing and on_resolved share one step: write it twice, not as &id001.
        return True


def _represent_flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line text as a block (|), one line per line; the emitter falls back to
    # quoting where a block cannot stand (inside [...], trailing spaces).
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(str, _represent_str)
_DUMP_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    # Non-ASCII as \u escapes: YAML readers take U+0085, U+2028 and U+2029 for line
    # breaks, even inside quotes, and would change the text.
    "allow_unicode": False,
    "default_flow_style": False,
    "width": 1 << 30,
}
