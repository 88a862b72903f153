"""``alertreflex convert-amx``: a prometheus-am-executor config to reflexes."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from alertreflex.cli._common import add_command
from alertreflex.files import atomic_write


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
    p.epilog = (p.epilog or "") + (
        "\n\nThe remarks on what behaves differently head the YAML as comments and go to"
        "\nstandard error. The output passes `alertreflex check`; it is checked before it"
        "\nis written.\n"
        "\nexit status:\n"
        "  0  converted\n"
        "  1  FILE is not a valid am-executor config (file:line: path: message), or a\n"
        "     command has no team; nothing is written\n"
        "  2  a usage error or a FILE that cannot be read\n"
        "\nThe mapping, field by field: docs/migrating-from-am-executor.md"
    )
    p.set_defaults(func=run)


class _UsageError(Exception):
    pass


def run(args: argparse.Namespace) -> int:
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
        text = _read(args.file)
    except _UsageError as exc:
        print(f"alertreflex convert-amx: {exc}", file=sys.stderr)
        return 2
    try:
        conversion = convert_amx(parse_amx_config(text, name), options)
    except AmxConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    output = conversion.to_yaml()
    refused = _check(output, options.ownership_label)
    if refused:
        print(
            "alertreflex convert-amx: the converted config does not pass alertreflex check "
            "(please report this):",
            file=sys.stderr,
        )
        for line in refused:
            print(f"  {line}", file=sys.stderr)
        return 1
    for message in conversion.messages():
        print(message, file=sys.stderr)
    try:
        if args.output and args.output != "-":
            atomic_write(Path(args.output), output)
        else:
            sys.stdout.write(output)
            sys.stdout.flush()
    except OSError as exc:
        print(f"alertreflex convert-amx: cannot write: {exc}", file=sys.stderr)
        return 1
    return 0


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


def _read(name: str) -> str:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read {name}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _UsageError(
            f"cannot read {name}: not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None


def _check(output: str, ownership_label: str) -> list[str]:
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
            return [str(p) for p in exc.problems]
    return []
