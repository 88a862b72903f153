"""What a server logged, read as a log shipper reads it: each logfmt line parsed by an
independent parser (logfmtkv in strict mode, which accepts what go-logfmt accepts),
so that a line alertreflex writes wrongly fails the test that reads it."""

from __future__ import annotations

import logfmtkv


def parse(line: str) -> dict[str, str]:
    """One logfmt record; a malformed line, a repeated key or a bare key is an error."""
    fields = logfmtkv.parse(line, strict=True, duplicates="error")
    bare = [key for key, value in fields.items() if not isinstance(value, str)]
    assert not bare, f"bare keys {bare} in {line!r}"
    return {key: str(value) for key, value in fields.items()}


def records(text: str) -> list[dict[str, str]]:
    """Every record of a log: its lines that start with ``ts=`` (a crash's traceback or
    a child's stray output would not)."""
    return [parse(line) for line in text.split("\n") if line.startswith("ts=")]


def events(text: str, msg: str | None = None) -> list[dict[str, str]]:
    """The records of a log whose ``msg`` is ``msg`` (all of them without one)."""
    return [r for r in records(text) if msg is None or r["msg"] == msg]


def event_lines(text: str, msg: str) -> list[str]:
    """The raw lines of the records whose ``msg`` is ``msg``, for checks of the text."""
    return [
        line for line in text.split("\n") if line.startswith("ts=") and parse(line)["msg"] == msg
    ]
