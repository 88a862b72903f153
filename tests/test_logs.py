"""The log as Prometheus people read it: real logfmt (go-kit's ``ts``, ``level``,
``msg`` first), or JSON lines, from a real server's standard error, read back by an
independent logfmt parser and by json.loads; awkward values come back exactly, and a
traceback is one field of one line."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import logfmtkv
from hypothesis import given
from hypothesis import strategies as st

from alertreflex.logs import logfmt_line
from tests.logs import parse
from tests.payloads import alert, notification
from tests.web.test_access import auth_config

# What a log line must survive: spaces, both quotes, =, a backslash, newlines and a
# tab, Python's other line breaks, non-ASCII: what naive quoting gets wrong.
AWKWARD = "say \"hi\" = 'ok' a\\b\nnext line\r\tté 日本 \u2028 end"  # no ":": a user name

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEVELS = {"debug", "info", "warn", "error"}

# An action type as a third party ships one (a distribution with an entry point), that
# raises: the engine logs the traceback of a plugin's bug.
PLUGIN = """\
from alertreflex.actions.base import Action, ActionParams


class CrashParams(ActionParams):
    message: str


class CrashAction(Action[CrashParams]):
    type_name = "crash"
    Params = CrashParams

    async def execute(self, params, ctx):
        raise RuntimeError(params.message)
"""

REFLEX = """\
  - name: crashes
    team: t
    match: ['alertname = "Crash"']
    on_firing: [{crash: {message: "{{ alert.annotations.note }}"}}]
"""


def install_plugin(where: Path) -> dict[str, str]:
    """The crash action type as an installed distribution in ``where``; the
    environment under which a server finds it."""
    where.mkdir()
    (where / "crash_plugin.py").write_text(PLUGIN)
    dist = where / "crash_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: crash-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[alertreflex.actions]\ncrash = crash_plugin:CrashAction\n"
    )
    path = os.pathsep.join(filter(None, [str(where), os.environ.get("PYTHONPATH", "")]))
    return {"PYTHONPATH": path}


def exercise(make_server: Any, tmp_path: Path, log_format: str) -> str:
    """A server whose log gets the awkward text from the wire (a user name), from an
    alert (a plugin's exception message, with its traceback) and from aiohttp (a
    request that is not HTTP); what it logged from start to stop."""
    env = install_plugin(tmp_path / "plugin")
    env["ALERTREFLEX_LOG_FORMAT"] = log_format
    srv = make_server(auth_config(tmp_path) + REFLEX, env=env)
    user = base64.b64encode(f"{AWKWARD}:wrong".encode()).decode()
    refused = httpx.get(
        f"{srv.url}/api/v1/runs", headers={"Authorization": f"Basic {user}"}, timeout=10
    )
    assert refused.status_code == 401
    firing = alert({"alertname": "Crash", "team": "t"}, annotations={"note": AWKWARD})
    hook = srv.post(
        notification(firing), headers={"Authorization": "Bearer webhook-token-0123456789"}
    )
    assert hook.status_code == 200, hook.text
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as conn:
        conn.sendall(b"GARBAGE\r\n\r\n")
        assert b" 400 Bad Request" in conn.recv(100)
    deadline = time.monotonic() + 20
    while "run_finished" not in srv.log():
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.05)
    assert srv.stop() == 0
    return str(srv.log())


def check_records(found: list[dict[str, Any]]) -> None:
    """What every line of either format holds, and the awkward values read back."""
    assert found
    for record in found:
        assert list(record)[:3] == ["ts", "level", "msg"], record
        assert TS.fullmatch(record["ts"]), record
        assert record["level"] in LEVELS, record
        assert "event" not in record
    by_msg = {r["msg"]: r for r in found}
    assert by_msg["auth_failed"]["user"] == AWKWARD
    assert by_msg["auth_failed"]["level"] == "warn"
    crashed = by_msg["action_crashed"]
    assert crashed["level"] == "error" and crashed["action"] == "crash"
    assert crashed["exception"].startswith("Traceback (most recent call last):\n")
    assert crashed["exception"].endswith(f"RuntimeError: {AWKWARD}")
    assert AWKWARD in by_msg["run_finished"]["reason"]
    assert by_msg["http_bad_request"]["remote"] == "127.0.0.1"
    assert by_msg["listening"]["address"].startswith("http://127.0.0.1:")
    assert by_msg["stopped"]["level"] == "info"


def test_logfmt_is_read_back_exactly_by_a_logfmt_parser(make_server: Any, tmp_path: Path) -> None:
    """The default format: every line of the server's standard error is one logfmt
    record that a strict, go-logfmt compatible parser accepts; values are quoted only
    when they must be, and text with quotes, =, backslashes, newlines and non-ASCII
    comes back as it was, a traceback included, each on one line."""
    text = exercise(make_server, tmp_path, "logfmt")
    lines = text.rstrip("\n").split("\n")
    assert all(line.startswith("ts=") for line in lines), text
    check_records([parse(line) for line in lines])
    listening = next(line for line in lines if " msg=listening " in line)
    # Bare where nothing needs quotes: no Python repr ('info') for the parser to keep.
    assert re.match(r"ts=\S+Z level=info msg=listening address=http://127\.0\.0\.1:\d+ ", listening)
    crashed = next(line for line in lines if " msg=action_crashed " in line)
    assert '\\nRuntimeError: say \\"hi\\" = ' in crashed and "日本" in crashed


def test_json_lines_are_read_back_exactly(make_server: Any, tmp_path: Path) -> None:
    """--log-format json: every line is one JSON object with the same fields, ts,
    level and msg first, the awkward values and the traceback exact."""
    text = exercise(make_server, tmp_path, "json")
    lines = text.rstrip("\n").split("\n")
    check_records([json.loads(line) for line in lines])


def test_library_records_and_warnings_are_lines_like_ours(tmp_path: Path) -> None:
    """Records of the standard library's logging (aiohttp's, asyncio's) and Python's
    warnings go through the same format: one line each, the logger named, a
    traceback inside its line; libraries' info records are left out."""
    script = textwrap.dedent(
        """
        import logging, warnings
        from alertreflex.logs import configure_logging

        configure_logging("debug")
        logging.getLogger("aiohttp.server").info("not shown")
        try:
            raise ValueError('bad "input"')
        except ValueError:
            logging.getLogger("aiohttp.web").exception("Error handling request from %s", "::1")
        logging.getLogger("asyncio").log(35, "between warning and error")
        warnings.warn("old = deprecated", UserWarning)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    found = [parse(line) for line in done.stderr.rstrip("\n").split("\n")]
    assert [(r["level"], r["logger"]) for r in found] == [
        ("error", "aiohttp.web"),
        ("warn", "asyncio"),
        ("warn", "py.warnings"),
    ]
    assert found[0]["msg"] == "Error handling request from ::1"
    assert found[0]["exception"].endswith('ValueError: bad "input"')
    assert found[2]["msg"].endswith("UserWarning: old = deprecated")


# Any code point, lone surrogates included (hypothesis leaves those out by default).
ANY_TEXT = st.text(st.characters(exclude_categories=()))


@given(st.lists(ANY_TEXT, max_size=5), ANY_TEXT.filter(bool))
def test_any_text_survives_a_logfmt_parser(values: list[str], key: str) -> None:
    """Whatever the text (control characters, quotes, line breaks, lone surrogates
    from undecodable bytes), a line is one line that a strict logfmt parser reads
    back, each value exact but a surrogate, which becomes U+FFFD; a key that logfmt
    cannot hold is written with underscores instead of what it cannot hold."""
    line = logfmt_line({"msg": "x", **{f"k{i}": v for i, v in enumerate(values)}})
    assert line.splitlines() == [line]
    back = logfmtkv.parse(line, strict=True, duplicates="error")
    assert [back[f"k{i}"] for i in range(len(values))] == [
        re.sub("[\ud800-\udfff]", "\ufffd", v) for v in values
    ]
    ((written, value),) = logfmtkv.parse(logfmt_line({key: "v"}), strict=True).items()
    assert value == "v" and len(written) == len(key)
