"""``alertreflex convert-rules``: Prometheus 1.x rule files to 2.x rule YAML."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command
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
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout: ok, each FILE with its rule count and "
        "where its YAML went (the YAML itself when it is not written to a file), and "
        "every problem with file, line, column and message (docs/cli.md)",
    )
    p.epilog = (p.epilog or "") + (
        "\n\nexit status:\n"
        "  0  converted\n"
        "  1  a FILE cannot be read or has a syntax error (printed as\n"
        "     file:line:column: message), or the output cannot be written; with several\n"
        "     FILEs nothing is written unless all convert\n"
        "  2  a usage error\n"
        "\nWhat is converted, and what is refused: docs/rules-1x.md"
    )
    p.set_defaults(func=run)


class _UsageError(Exception):
    pass


@dataclass
class _Result:
    """What became of one FILE."""

    name: str
    rules: int = 0
    yaml: str | None = None
    output: Path | None = None  # where the YAML is written; None: standard output


def run(args: argparse.Namespace) -> int:
    files: list[str] = args.files
    try:
        _check_usage(args)
        targets = _targets(files, args.output_dir) if args.output_dir else {}
    except _UsageError as exc:
        print(f"alertreflex convert-rules: {exc}", file=sys.stderr)
        return USAGE
    results = [_Result(name, output=targets.get(name)) for name in files]
    if args.output and args.output != "-":
        results[0].output = Path(args.output)
    # All or nothing: every FILE is read and converted before anything is written,
    # and every problem of every FILE is reported.
    problems = [p for r in results if (p := _convert(r, args.group)) is not None]
    if not problems:
        problems = _write(results, to_stdout=not args.json)
    if args.json:
        _print_json(results, problems)
    else:
        for problem in problems:
            print(problem["text"], file=sys.stderr)
    return FAILED if problems else OK


def _convert(result: _Result, group: str | None) -> dict[str, Any] | None:
    """Read and convert one FILE into ``result``; the problem, if any."""
    from alertreflex.sync.rules1x import RuleSyntaxError, convert_rules_1x

    label = _label(result.name)
    try:
        text = _read(result.name)
    except OSError as exc:
        why = exc.strerror or str(exc)
        return _problem(
            label,
            0,
            None,
            f"cannot read: {why}",
            text=f"alertreflex convert-rules: cannot read {label}: {why}",
        )
    try:
        converted = convert_rules_1x(text, filename=label, group=group)
    except RuleSyntaxError as exc:
        return _problem(exc.file, exc.line, exc.column, exc.message, text=str(exc))
    result.yaml = converted.to_yaml()
    result.rules = len(converted.rule_lines)
    return None


def _write(results: list[_Result], *, to_stdout: bool) -> list[dict[str, Any]]:
    for r in results:
        yaml_text = r.yaml or ""  # every one converted, or nothing is written
        try:
            if r.output is not None:
                atomic_write(r.output, yaml_text)
            elif to_stdout:
                sys.stdout.buffer.write(yaml_text.encode())
                sys.stdout.flush()
        except OSError as exc:
            where = str(r.output or "<stdout>")
            return [_problem(where, 0, None, f"cannot write: {exc}")]
    return []


def _problem(
    file: str, line: int, column: int | None, message: str, *, text: str | None = None
) -> dict[str, Any]:
    """A problem as --json prints it; ``text`` is its line without --json."""
    where = f"{file}:{line}:" if line else "alertreflex convert-rules:"
    return {
        "file": file,
        "line": line,
        "column": column,
        "path": "",
        "message": message,
        "severity": "error",
        "text": text or f"{where} {message}",
    }


def _print_json(results: list[_Result], problems: list[dict[str, Any]]) -> None:
    doc = {
        "ok": not problems,
        "files": [
            {
                "file": _label(r.name),
                "rules": r.rules if r.yaml is not None else None,
                "output": str(r.output) if r.output is not None and not problems else None,
                "yaml": r.yaml if r.output is None and not problems else None,
            }
            for r in results
        ],
        "problems": [{k: v for k, v in p.items() if k != "text"} for p in problems],
    }
    print(json.dumps(doc, indent=2, ensure_ascii=False))


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
    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    return data.decode("utf-8", errors="surrogateescape")
