"""`--json` of check and the converters (the shapes docs/cli.md documents), and what
`check` and `test` say to help, run as users run them."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "alertreflex.yml"
AMX = ROOT / "tests" / "convert" / "data"

BROKEN = """\
reflexes:
  - name: typo
    team: t
    match: ['alertname = "A"']
    on_resolve: [{exec: {command: ["true"]}}]
    on_firing: [{exec: {command: ["true"]}}]
  - name: warned
    team: t
    match: ['alertname = "B"']
    on_firing:
      - http: {url: "http://{{ alert.labels.instance }}/items/{{ alert.labels.item }}"}
"""
WARNED = BROKEN.split("  - name: warned\n")[1]

PROBLEM_KEYS = ["file", "line", "column", "path", "message", "severity"]


def many(*calls: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run_cli(*args), calls))


def test_check_json(tmp_path: Path) -> None:
    """check --json prints one document: ok, a summary when valid, and every problem
    and warning with file, line, path, message and severity; nothing on stderr;
    the exit status is the same as without --json."""
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    warned = tmp_path / "warned.yml"
    warned.write_text("reflexes:\n  - name: warned\n" + WARNED)
    bad, good, missing = many(
        ("check", "--json", str(broken)),
        ("check", "--json", str(warned)),
        ("check", "--json", str(tmp_path / "missing.yml")),
    )
    assert (bad.returncode, bad.stderr) == (1, "")
    doc = json.loads(bad.stdout)
    assert (doc["ok"], doc["summary"]) == (False, None)
    assert [list(p) for p in doc["problems"]] == [PROBLEM_KEYS, PROBLEM_KEYS]
    error, warning = doc["problems"]
    assert error == {
        "file": str(broken),
        "line": 5,
        "column": None,
        "path": "reflexes[0].on_resolve",
        "message": "unknown field (did you mean 'on_resolved'?)",
        "severity": "error",
    }
    assert (warning["file"], warning["line"], warning["severity"]) == (str(broken), 11, "warning")
    assert warning["path"] == "reflexes[1].on_firing[0].http.url"
    assert warning["message"].startswith("{{ alert.labels.item }} puts alert data into")

    assert (good.returncode, good.stderr) == (0, "")
    doc = json.loads(good.stdout)
    assert doc["ok"] is True
    assert doc["summary"] == {"files": 1, "reflexes": 1, "teams": 1, "steps": 1}
    assert [p["severity"] for p in doc["problems"]] == ["warning"]

    assert missing.returncode == 1
    assert json.loads(missing.stdout)["problems"] == [
        {
            "file": str(tmp_path / "missing.yml"),
            "line": 0,
            "column": None,
            "path": "",
            "message": "no such file or directory",
            "severity": "error",
        }
    ]


def test_convert_rules_json(tmp_path: Path) -> None:
    """convert-rules --json: each FILE with its rule count and its YAML (or where it
    was written), and every syntax or read problem with line and column; with a
    problem nothing is written."""
    good = tmp_path / "node.rules"
    good.write_text("ALERT Down IF up == 0 FOR 5m\njob:up:sum = sum(up)\n")
    bad = tmp_path / "bad.rules"
    bad.write_text("ALERT Foo\n  IF up == 0\n  FOR soon\n")
    out = tmp_path / "out"
    printed, written, failed = many(
        ("convert-rules", "--json", str(good)),
        ("convert-rules", "--json", str(good), "-o", str(tmp_path / "node.yml")),
        (
            "convert-rules",
            "--json",
            str(good),
            str(bad),
            str(tmp_path / "missing.rules"),
            "--output-dir",
            str(out),
        ),
    )
    assert (printed.returncode, printed.stderr) == (0, "")
    doc = json.loads(printed.stdout)
    assert doc["ok"] is True and doc["problems"] == []
    (entry,) = doc["files"]
    assert (entry["file"], entry["rules"], entry["output"]) == (str(good), 2, None)
    rules = yaml.safe_load(entry["yaml"])["groups"][0]["rules"]
    assert [r.get("alert") or r.get("record") for r in rules] == ["Down", "job:up:sum"]

    assert written.returncode == 0
    (entry,) = json.loads(written.stdout)["files"]
    assert (entry["output"], entry["yaml"]) == (str(tmp_path / "node.yml"), None)
    assert yaml.safe_load((tmp_path / "node.yml").read_text()) == yaml.safe_load(
        json.loads(printed.stdout)["files"][0]["yaml"]
    )

    assert (failed.returncode, failed.stderr) == (1, "")
    doc = json.loads(failed.stdout)
    assert doc["ok"] is False
    assert [(f["file"], f["rules"], f["output"]) for f in doc["files"]] == [
        (str(good), 2, None),
        (str(bad), None, None),
        (str(tmp_path / "missing.rules"), None, None),
    ]
    assert doc["problems"] == [
        {
            "file": str(bad),
            "line": 3,
            "column": 7,
            "path": "",
            "message": "invalid duration 'soon' after FOR: expected a number and a unit, "
            "like 5m (units: ms, s, m, h, d, w, y)",
            "severity": "error",
        },
        {
            "file": str(tmp_path / "missing.rules"),
            "line": 0,
            "column": None,
            "path": "",
            "message": "cannot read: No such file or directory",
            "severity": "error",
        },
    ]
    assert not out.exists()


def test_convert_amx_json(tmp_path: Path) -> None:
    """convert-amx --json: the reflexes, the YAML (or where it went), and the remarks
    as notes with file, line and path; an invalid config's problems instead, exit 1."""
    target = tmp_path / "reflexes.yml"
    printed, written, invalid, unreadable = many(
        ("convert-amx", "--json", str(AMX / "readme-reboot.yml")),
        ("convert-amx", "--json", str(AMX / "readme-reboot.yml"), "-o", str(target)),
        ("convert-amx", "--json", str(AMX / "unknown-field.yml")),
        ("convert-amx", "--json", str(tmp_path / "missing.yml")),
    )
    assert (printed.returncode, printed.stderr) == (0, ""), printed.stderr
    doc = json.loads(printed.stdout)
    assert doc["ok"] is True and doc["problems"] == [] and doc["output"] is None
    assert doc["reflexes"] == ["reboot-machine-rebootmachine"]
    assert yaml.safe_load(doc["yaml"])["reflexes"][0]["name"] == doc["reflexes"][0]
    notes = doc["remarks"]
    assert notes and {n["severity"] for n in notes} == {"note"}
    assert all(list(n) == PROBLEM_KEYS for n in notes)
    general = [n for n in notes if n["line"] == 0]
    per_command = [n for n in notes if n["line"]]
    assert general and all(n["path"] == "" for n in general)
    assert per_command and {(n["line"], n["path"]) for n in per_command} == {(5, "commands[0]")}
    assert any("max: 1 became max_concurrent: 1" in n["message"] for n in per_command)

    assert written.returncode == 0
    doc = json.loads(written.stdout)
    assert (doc["output"], doc["yaml"]) == (str(target), None)
    assert yaml.safe_load(target.read_text()) == yaml.safe_load(json.loads(printed.stdout)["yaml"])

    assert (invalid.returncode, invalid.stderr) == (1, "")
    doc = json.loads(invalid.stdout)
    assert (doc["ok"], doc["reflexes"], doc["remarks"]) == (False, [], [])
    (problem,) = doc["problems"]
    assert problem["path"] == "commands[0].ignore_resolve"
    assert problem["message"].startswith("unknown field (did you mean 'ignore_resolved'?)")

    assert unreadable.returncode == 1
    assert json.loads(unreadable.stdout)["problems"][0]["message"] == (
        "cannot read: No such file or directory"
    )


def test_test_without_a_match_suggests_explain() -> None:
    """`test` for an alert no reflex matches says so and points to --explain, which
    says why for each reflex; it is an answer, not a failure (exit 0)."""
    done = run_cli(
        "test", "--config", str(EXAMPLE), "--labels", '{alertname="Nothing",team="warehouse"}'
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == (
        "  matches no reflex of the 2 configured; add --explain to see why each does not "
        "(ownership, matchers, time windows)"
    )
