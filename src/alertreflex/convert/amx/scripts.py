"""The script files a command runs, read for what they expect of a notification.

am-executor gave a command every alert of a notification (``AMX_ALERT_<n>_*``); a
converted reflex runs once per alert. A script that reads alerts past the first is
named in the remarks. Nothing is run, and a file that cannot be read says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

# AMX_ALERT_<n>_STATUS, _LABEL_x and their kin, as a script would spell them: <n> may
# be a shell expansion such as ${i}.
_SCRIPT_ALERT_VAR = re.compile(
    r"AMX_ALERT_([0-9]+|[^_\s]*)_(?:STATUS|START|END|URL|FINGERPRINT|LABEL_|ANNOTATION_)"
)
_SCRIPT_MAX_BYTES = 1024 * 1024


def alert_reading_scripts(argv: Sequence[str], dirs: Sequence[Path]) -> list[str]:
    """The script files among ``argv`` that read alerts past the first, sorted, once each.

    A relative path is looked for in the working directory, then in each of ``dirs``.
    """
    found = set()
    for arg in argv:
        path = script_file(arg, dirs)
        if path is not None and reads_alerts_past_first(path):
            found.add(str(path))
    return sorted(found)


def reads_alerts_past_first(path: Path) -> bool:
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


def script_file(arg: str, dirs: Iterable[Path]) -> Path | None:
    """``arg`` as a script file that exists, or None (a plain argument, a program on PATH)."""
    if "/" not in arg or "\0" in arg:
        return None
    candidates = [Path(arg)]
    if not arg.startswith("/"):
        candidates.extend(d / arg for d in dirs)
    for path in candidates:
        try:
            if path.is_file():
                return path
        except OSError:
            continue
    return None
