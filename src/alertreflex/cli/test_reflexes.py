"""``alertreflex test-reflexes``: run reflex unit tests (``*.reflextests.yml``).

Like ``promtool test rules``: each file's tests run against the config and the
command prints SUCCESS or FAILED per file with every failure as ``file:line: test
'name': message``. Exit 0 if every test passes, 1 if one fails or a test file or the
config cannot be read or is invalid (INVALID), 2 for a usage error. The format:
docs/reflex-tests.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command

if TYPE_CHECKING:
    from alertreflex.engine.reflextests import ReflexTestFile, ReflexTestReport

SUFFIXES = (".reflextests.yml", ".reflextests.yaml")


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "test-reflexes",
        "Run reflex unit tests (*.reflextests.yml): which reflexes an alert must and must "
        "not trigger, and their rendered steps. Runs nothing.",
        "alertreflex test-reflexes teams/warehouse/",
    )
    p.add_argument(
        "--config",
        action="append",
        metavar="PATH",
        help="the config: a file or a directory of them; may be repeated. Default: "
        "the *.reflexes.yml of the repository's teams/ the test files are in, each "
        "reflex owned by its directory's team, as `alertreflex sync` reads them",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=f"test files, or directories searched for {' and '.join('*' + s for s in SUFFIXES)}",
    )
    p.set_defaults(func=run)


def find_test_files(args: list[str]) -> list[Path]:
    """The files named, with directories replaced by the test files found under them."""
    out: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.name.endswith(SUFFIXES) and f.is_file())
        else:
            out.append(p)
    return list(dict.fromkeys(out))  # a file named twice runs once


def team_reflex_files(tests: list[Path]) -> dict[str, str] | str:
    """Without --config: every reflex file of the ``teams/`` directory the tests sit
    in, mapped to its team (as sync reads them), or why there is none."""
    roots = set()
    for f in tests:
        teams = next((d for d in f.resolve().parents if d.name == "teams"), None)
        if teams is None:
            return f"{f} is not in a teams/<team>/ directory: give --config"
        roots.add(teams)
    owners = {}
    for teams in sorted(roots):
        for f in sorted(teams.rglob("*")):
            if f.is_file() and f.name.endswith((".reflexes.yml", ".reflexes.yaml")):
                owners[str(f)] = f.relative_to(teams).parts[0]
    return owners


def run(args: argparse.Namespace) -> int:
    # Imported here so that `alertreflex --help` and the other commands start fast.
    from alertreflex.actions.base import Action, load_action_types, params_models
    from alertreflex.config.loader import ConfigError, load_config
    from alertreflex.engine.reflextests import (
        ReflexTestFileError,
        load_reflex_tests,
        run_reflex_tests,
    )

    types = load_action_types()
    files = find_test_files(args.files)
    if not files:
        print("alertreflex test-reflexes: no test files found", file=sys.stderr)
        return FAILED
    owners: dict[str, str] = {}
    paths: list[str] = args.config or []
    if not paths:
        found = team_reflex_files(files)
        if isinstance(found, str):
            print(f"alertreflex test-reflexes: {found}", file=sys.stderr)
            return USAGE
        owners = found
        paths = sorted(owners)
    try:
        cfg = load_config(paths, params_models(types), read_secrets=False, owners=owners)
    except ConfigError as exc:
        print(f"invalid config:\n{exc}", file=sys.stderr)
        return FAILED
    loaded: list[ReflexTestFile] = []
    invalid: dict[str, ReflexTestFileError] = {}
    for path in files:
        try:
            loaded.append(load_reflex_tests(path))
        except ReflexTestFileError as exc:
            invalid[str(path)] = exc
    actions: dict[str, Action[Any]] = {name: cls() for name, cls in types.items()}
    report = run_reflex_tests(cfg, loaded, actions)
    for path in files:
        print("\n".join(_file_block(str(path), report, invalid.get(str(path)))))
        print()
    print(_summary(report, len(files), len(invalid)))
    return FAILED if invalid or report.failures else OK


def _file_block(path: str, report: ReflexTestReport, error: Exception | None) -> list[str]:
    lines = [f"Unit Testing: {path}"]
    if error is not None:
        lines.append("  INVALID:")
        lines += [f"    {line}" for line in str(error).splitlines()]
        return lines
    results = [r for r in report.results if r.file == path]
    failed = [f for r in results for f in r.failures]
    if not failed:
        lines.append(f"  SUCCESS: {len(results)} test(s)")
        return lines
    bad = sum(not r.passed for r in results)
    lines.append(f"  FAILED: {bad} of {len(results)} test(s)")
    lines += [f"    {f}" for f in failed]
    return lines


def _summary(report: ReflexTestReport, files: int, invalid: int) -> str:
    failed = report.total - report.passed
    if not failed and not invalid:
        return f"SUCCESS: {report.total} test(s) in {files} file(s) passed"
    parts = []
    if failed:
        parts.append(f"{failed} of {report.total} test(s) failed")
    if invalid:
        parts.append(f"{invalid} of {files} file(s) invalid")
    return "FAILED: " + ", ".join(parts)
