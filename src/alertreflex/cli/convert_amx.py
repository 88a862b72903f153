"""``alertreflex convert-amx``: a prometheus-am-executor config to reflexes."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command, problem_json
from alertreflex.files import atomic_write

if TYPE_CHECKING:
    from alertreflex.config.loader import Problem
    from alertreflex.convert.amx.output import Conversion


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "convert-amx",
        "Convert a prometheus-am-executor config to reflexes, saying what behaves differently.",
        "alertreflex convert-amx executor.yml --team warehouse -o reflexes.yml\n"
        "  alertreflex check reflexes.yml",
    )
    p.add_argument("file", metavar="FILE", help="the am-executor YAML config; '-' reads stdin")
    p.add_argument(
        "--team",
        help="team of the commands whose match_labels do not name one (a reflex needs a team)",
    )
    p.add_argument(
        "-o", "--output", metavar="OUT", help="write the YAML here instead of to standard output"
    )
    p.add_argument(
        "--ownership-label",
        default="team",
        metavar="LABEL",
        help="the alert label that names the team, as in settings.ownership_label (default team)",
    )
    p.add_argument(
        "--timeout",
        default="1h",
        metavar="DURATION",
        help="timeout of each command (am-executor had none; default 1h)",
    )
    p.add_argument(
        "--run-on-resolved",
        action="store_true",
        help="also run each command when its alert resolves, with AMX_STATUS=resolved "
        "(what am-executor did before ignore_resolved existed)",
    )
    p.add_argument(
        "--no-scan",
        action="store_true",
        help="do not read the commands' script files for AMX_ALERT_<n> variables past the "
        "first alert (each run has one)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout: ok, the reflexes, where the YAML went "
        "(the YAML itself without -o), the problems and the remarks, each with file, "
        "line, path and message (docs/cli.md)",
    )
    p.epilog = (p.epilog or "") + (
        "\n\nThe remarks on what behaves differently head the YAML as comments and go to"
        "\nstandard error. The output passes `alertreflex check`; it is checked before it"
        "\nis written.\n"
        "\nexit status:\n"
        "  0  converted\n"
        "  1  FILE cannot be read or is not a valid am-executor config (file:line: path:\n"
        "     message), or a command has no team; nothing is written\n"
        "  2  a usage error\n"
        "\nThe mapping, field by field: docs/migrating-from-am-executor.md"
    )
    p.set_defaults(func=run)


class _UsageError(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    from alertreflex.config.loader import Problem
    from alertreflex.convert.amx.config import AmxConfigError, parse_amx_config
    from alertreflex.convert.amx.reflexes import ConvertOptions, convert_amx

    name = "<stdin>" if args.file == "-" else args.file
    try:
        options = ConvertOptions(
            team=_team(args.team),
            ownership_label=_label_name(args.ownership_label, "--ownership-label"),
            timeout=_timeout(args.timeout),
            run_on_resolved=args.run_on_resolved,
            scan_scripts=not args.no_scan,
            script_dirs=() if args.file == "-" else (Path(args.file).resolve().parent,),
        )
    except _UsageError as exc:
        print(f"alertreflex convert-amx: {exc}", file=sys.stderr)
        return USAGE
    try:
        text = _read(args.file)
        conversion = convert_amx(parse_amx_config(text, name), options)
    except _ReadError as exc:
        said = [f"alertreflex convert-amx: cannot read {name}: {exc}"]
        return _failed(args, [Problem(name, 0, "", f"cannot read: {exc}")], said)
    except AmxConfigError as exc:
        return _failed(args, exc.problems)
    output = conversion.to_yaml()
    refused = _check(output, options.ownership_label)
    if refused:
        headline = (
            "alertreflex convert-amx: the converted config does not pass alertreflex check "
            "(please report this):"
        )
        return _failed(args, refused, [headline, *(f"  {p}" for p in refused)])
    to_file = bool(args.output) and args.output != "-"
    if not args.json:
        for message in conversion.messages():
            print(message, file=sys.stderr)
    try:
        if to_file:
            atomic_write(Path(args.output), output)
        elif not args.json:
            sys.stdout.write(output)
            sys.stdout.flush()
    except OSError as exc:
        said = [f"alertreflex convert-amx: cannot write: {exc}"]
        return _failed(args, [Problem(args.output, 0, "", f"cannot write: {exc}")], said)
    if args.json:
        doc = _json_doc(conversion, [])
        doc.update(output=args.output if to_file else None, yaml=None if to_file else output)
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    return OK


def _failed(
    args: argparse.Namespace, problems: list[Problem], text: list[str] | None = None
) -> int:
    """Say why nothing was converted: ``text`` (default: each problem's line) on
    standard error, or the JSON document; the exit status."""
    if args.json:
        print(json.dumps(_json_doc(None, problems), indent=2, ensure_ascii=False))
        return FAILED
    for line in text if text is not None else map(str, problems):
        print(line, file=sys.stderr)
    return FAILED


def _json_doc(conversion: Conversion | None, problems: list[Problem]) -> dict[str, Any]:
    """--json's document (docs/cli.md): the remarks as notes shaped like problems."""
    from alertreflex.config.loader import Problem

    remarks: list[Problem] = []
    if conversion is not None:
        source = conversion.source
        remarks += [Problem(source, 0, "", text) for text in conversion.remarks]
        for cmd, text in conversion.skipped:
            remarks.append(Problem(source, cmd.line, f"commands[{cmd.index}]", text))
        for r in conversion.reflexes:
            at = f"commands[{r.command.index}]"
            remarks += [Problem(source, r.command.line, at, text) for text in r.remarks]
    return {
        "ok": conversion is not None,
        "reflexes": [r.reflex["name"] for r in conversion.reflexes] if conversion else [],
        "output": None,
        "yaml": None,
        "problems": [problem_json(p) for p in problems],
        "remarks": [problem_json(p, severity="note") for p in remarks],
    }


def _team(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise _UsageError("--team must not be empty")
    return value


def _label_name(value: str, option: str) -> str:
    from alertreflex.core.matchers import LABEL_NAME_PATTERN

    if not re.fullmatch(LABEL_NAME_PATTERN, value):
        raise _UsageError(f"{option} {value!r} is not a label name ({LABEL_NAME_PATTERN})")
    return value


def _timeout(value: str) -> str:
    from alertreflex.core.durations import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise _UsageError(f"--timeout: {exc}") from None
    if seconds <= 0:
        raise _UsageError("--timeout must be longer than 0")
    return value


class _ReadError(Exception):
    """FILE cannot be read: invalid input, said as ``cannot read FILE: why``."""


def _read(name: str) -> str:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise _ReadError(exc.strerror or str(exc)) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _ReadError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _check(output: str, ownership_label: str) -> list[Problem]:
    """What `alertreflex check` would say about ``output`` in a config whose
    ``settings.ownership_label`` is ``ownership_label``; empty when it passes."""
    from alertreflex.actions.base import load_action_types, params_models
    from alertreflex.config.loader import ConfigError, load_config

    with tempfile.TemporaryDirectory(prefix="alertreflex-convert-amx-") as tmp:
        path = Path(tmp) / "converted.yml"
        path.write_text(output, encoding="utf-8")
        # The reflexes join a config that names its ownership label (a matcher on
        # the default one is no contradiction there): check them as they will run.
        settings = {"settings": {"ownership_label": ownership_label}}
        (Path(tmp) / "settings.yml").write_text(json.dumps(settings), encoding="utf-8")
        try:
            load_config(Path(tmp), params_models(load_action_types()), read_secrets=False)
        except ConfigError as exc:
            return exc.problems
    return []
