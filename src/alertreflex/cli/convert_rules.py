"""``alertreflex convert-rules``: Prometheus 1.x rule files to 2.x rule YAML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from alertreflex.cli._common import add_command
from alertreflex.files import atomic_write


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "convert-rules",
        "Convert Prometheus 1.x rule files (ALERT ... IF ..., name = expr) to 2.x rule YAML.",
        "alertreflex convert-rules node.rules -o node.rules.yml\n"
        "  alertreflex convert-rules rules/*.rules --output-dir converted/\n"
        "  cat node.rules | alertreflex convert-rules - --group node",
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="1.x rule files; '-' reads standard input"
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="with one FILE: write the YAML here instead of to standard output",
    )
    out.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write <name>.rules.yml per FILE into DIR (required with several FILEs)",
    )
    p.add_argument(
        "--group",
        metavar="NAME",
        help="with one FILE: the rule group's name (default: the file name without .rules)",
    )
    p.epilog = (p.epilog or "") + (
        "\n\nexit status:\n"
        "  0  converted\n"
        "  1  a syntax error, printed as file:line:column: message; nothing is written\n"
        "  2  a usage error or a FILE that cannot be read\n"
        "\nWhat is converted, and what is refused: docs/rules-1x.md"
    )
    p.set_defaults(func=run)


class _UsageError(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    files: list[str] = args.files
    try:
        _check_usage(args)
        targets = _targets(files, args.output_dir) if args.output_dir else {}
        sources = [(name, _read(name)) for name in files]
    except _UsageError as exc:
        print(f"alertreflex convert-rules: {exc}", file=sys.stderr)
        return 2
    converted = _convert_all(sources, args.group)
    if converted is None:
        return 1
    try:
        if args.output_dir:
            for name, yaml_text in zip(files, converted, strict=True):
                atomic_write(targets[name], yaml_text)
        elif args.output and args.output != "-":
            atomic_write(Path(args.output), converted[0])
        else:
            sys.stdout.buffer.write(converted[0].encode())
            sys.stdout.flush()
    except OSError as exc:
        print(f"alertreflex convert-rules: cannot write: {exc}", file=sys.stderr)
        return 1
    return 0


def _convert_all(sources: list[tuple[str, str]], group: str | None) -> list[str] | None:
    """The YAML of every source, or None after printing every syntax error: all or
    nothing, so that a set of files is never half converted."""
    from alertreflex.sync.rules1x import RuleSyntaxError, convert_rules_1x

    converted: list[str] = []
    for name, text in sources:
        try:
            converted.append(convert_rules_1x(text, filename=_label(name), group=group).to_yaml())
        except RuleSyntaxError as exc:
            print(exc, file=sys.stderr)
    return converted if len(converted) == len(sources) else None


def _check_usage(args: argparse.Namespace) -> None:
    several = len(args.files) > 1
    if several and not args.output_dir:
        raise _UsageError("several FILEs need --output-dir DIR (-o takes one FILE)")
    if several and args.group is not None:
        raise _UsageError("--group needs exactly one FILE")
    if args.group == "":
        raise _UsageError("--group must not be empty")
    if args.files.count("-") > 1:
        raise _UsageError("'-' (standard input) can be given only once")


def _targets(files: list[str], output_dir: str) -> dict[str, Path]:
    """Where each FILE goes in ``output_dir``; two FILEs may not share a target."""
    from alertreflex.sync.rules1x import default_group_name

    targets: dict[str, Path] = {}
    by_target: dict[Path, str] = {}
    for name in files:
        stem = default_group_name(_label(name))
        target = Path(output_dir) / f"{stem}.rules.yml"
        if target in by_target:
            raise _UsageError(f"{by_target[target]} and {name} would both write {target}")
        by_target[target] = name
        targets[name] = target
    return targets


def _label(name: str) -> str:
    """How a FILE is named in messages and the generated header."""
    return "<stdin>" if name == "-" else name


def _read(name: str) -> str:
    """The file's text. Undecodable bytes become surrogates, which the converter
    reports as invalid UTF-8 at their line and column."""
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read {name}: {exc.strerror or exc}") from exc
    return data.decode("utf-8", errors="surrogateescape")
