"""``promtool check rules``: Prometheus' own validation of rule files.

Its messages carry the checked file's name and, mostly, a ``line:column`` or a
``line N`` of it; they are returned as (line, message) for the caller to locate.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_AT = re.compile(r"^(\d+):(\d+): (.*)$")
_LINE = re.compile(r"\bline (\d+)\b")
_RULE = re.compile(r'group "(?P<group>(?:[^"\\]|\\.)*)", rule (?P<rule>\d+)')


class PromtoolError(RuntimeError):
    """promtool could not be run at all."""


def find_promtool(explicit: str | None = None) -> str | None:
    """``explicit`` (must exist), else promtool on PATH, else None."""
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise PromtoolError(f"promtool {explicit!r} not found")
        return found
    return shutil.which("promtool")


def check_rules(promtool: str, path: Path) -> list[tuple[int, str]]:
    """Problems promtool finds in ``path``: (line or 0, message); empty when valid."""
    try:
        done = subprocess.run(
            [promtool, "check", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PromtoolError(f"cannot run {promtool}: {exc}") from exc
    if done.returncode == 0:
        return []
    return _parse(done.stdout + "\n" + done.stderr, str(path))


def rule_of(message: str) -> tuple[str, int] | None:
    """The (group, 1-based rule number) a promtool message is about, if it says."""
    m = _RULE.search(message)
    return (m["group"], int(m["rule"])) if m else None


def _parse(output: str, name: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    heading = ""  # "yaml: unmarshal errors:" heads the indented lines after it
    prefix = f"{name}: "
    for raw in output.splitlines():
        line = raw.strip()
        if not line or line.startswith("Checking ") or line == "FAILED:":
            continue
        if line.startswith(prefix):
            line, heading = line[len(prefix) :], ""
        if line.endswith(":"):
            heading = line
            continue
        if heading and raw.startswith(" "):
            line = f"{heading} {line}"
        if m := _AT.match(line):
            item = (int(m[1]), m[3])
        elif m := _LINE.search(line):
            item = (int(m[1]), line)
        else:
            item = (0, line)
        if item not in found:  # promtool repeats YAML syntax errors
            found.append(item)
    return found or [(0, f"promtool check rules failed: {output.strip()}")]
