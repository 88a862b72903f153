"""The ``exec`` helper process, driven with raw frames: real processes, no mocks."""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertreflex.actions.exec_frames import CANCELLED, HEADER, frame
from tests.procs import alive

PY = sys.executable
HELPER = [PY, "-m", "alertreflex.actions.exec_worker"]


def gone(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_for_pids(path: Path, count: int, within: float = 10.0) -> list[int]:
    """The pids a command wrote to ``path`` (one line, ended by a newline)."""
    deadline = time.monotonic() + within
    while not (path.exists() and path.read_text().endswith("\n")):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.02)
    pids = [int(p) for p in path.read_text().split()]
    assert len(pids) == count
    return pids


# A command that starts a grandchild in its group, writes both pids, then sleeps.
WITH_GRANDCHILD = (
    "import os, subprocess, sys, time; p = subprocess.Popen(['sleep', '60']); "
    "open(sys.argv[1], 'w').write(f'{os.getpid()} {p.pid}\\n'); time.sleep(60)"
)


class Helper:
    """The helper process, spoken to as the server does."""

    def __init__(
        self, command: list[str] = HELPER, stderr: int | None = None, pass_fds: tuple[int, ...] = ()
    ) -> None:
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            pass_fds=pass_fds,
            bufsize=0,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.stdout = self.proc.stdout.fileno()
        self.buf = b""

    def send(self, doc: Any, stdin: bytes = b"") -> None:
        self.stdin.write(frame(json.dumps(doc).encode(), stdin))

    def step(self, step_id: int, argv: list[str], stdin: bytes = b"", **spec: Any) -> None:
        doc = {
            "id": step_id,
            "argv": argv,
            "env": {"PATH": os.environ["PATH"]},
            "cwd": None,
            "limit": 65536,
            "timeout": 10.0,
            "pipe_grace": 1.0,
            "kill_grace": 5.0,
        }
        self.send({**doc, **spec}, stdin)

    def recv(self, timeout: float = 10.0) -> Any:
        """The next answer; None at end-of-file."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= HEADER.size:
                doc_len, blob_len = HEADER.unpack_from(self.buf)
                end = HEADER.size + doc_len + blob_len
                if len(self.buf) >= end:
                    doc = json.loads(self.buf[HEADER.size : HEADER.size + doc_len])
                    self.buf = self.buf[end:]
                    return doc
            left = deadline - time.monotonic()
            assert left > 0, "no answer from the helper"
            if select.select([self.stdout], [], [], left)[0]:
                data = os.read(self.stdout, 65536)
                if not data:
                    return None
                self.buf += data

    def close(self) -> None:
        if not self.stdin.closed:
            self.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def helper() -> Iterator[Helper]:
    h = Helper()
    try:
        assert h.recv() == {"ready": True}
        yield h
    finally:
        h.close()


def test_ready_frame_first() -> None:
    """The helper's first frame says it can serve, before any request."""
    h = Helper()
    try:
        assert h.recv() == {"ready": True}
    finally:
        h.close()
    assert h.proc.returncode == 0


def test_a_step_and_its_result(helper: Helper) -> None:
    """A step gets its stdin and environment; the answer has its exit and output."""
    code = (
        "import os, sys; data = sys.stdin.read(); print(data, os.environ['STEP']); "
        "print('oops', file=sys.stderr); sys.exit(3)"
    )
    helper.step(
        1, [PY, "-c", code], b'{"alert": 1}', env={"PATH": os.environ["PATH"], "STEP": "one"}
    )
    assert helper.recv() == {
        "id": 1,
        "returncode": 3,
        "timed_out": False,
        "stdout": '{"alert": 1} one\n',
        "stderr": "oops\n",
        "pipes_held_open": False,
    }


def test_steps_run_side_by_side(helper: Helper) -> None:
    """A slow step does not hold up a quick one sent after it."""
    helper.step(1, ["sleep", "1"])
    helper.step(2, ["true"])
    first, second = helper.recv(), helper.recv()
    assert (first["id"], first["returncode"]) == (2, 0)
    assert (second["id"], second["returncode"]) == (1, 0)


def test_timeout_kills_the_group(helper: Helper, tmp_path: Path) -> None:
    """On timeout the group gets SIGKILL and the answer says timed_out."""
    pids = tmp_path / "pids"
    helper.step(1, [PY, "-c", WITH_GRANDCHILD, str(pids)], timeout=2.0)
    child, grandchild = wait_for_pids(pids, 2)
    answer = helper.recv()
    assert answer["timed_out"] is True
    assert answer["returncode"] == -9
    assert gone(child)
    assert gone(grandchild)


def test_path_lookup_uses_the_commands_path(helper: Helper, tmp_path: Path) -> None:
    """A program without a slash is looked up on the PATH of the step's environment,
    as execvp does: a candidate that cannot be executed is passed over."""
    first, second = tmp_path / "first", tmp_path / "second"
    for where, mode in ((first, 0o644), (second, 0o755)):
        where.mkdir()
        tool = where / "tool"
        tool.write_text(f"#!/bin/sh\necho {where.name}\n")
        tool.chmod(mode)
    path = f"{tmp_path / 'missing'}:{first}:{second}"
    helper.step(1, ["tool"], env={"PATH": path})
    assert helper.recv()["stdout"] == "second\n"
    helper.step(2, ["tool"], env={"PATH": str(first)})
    error = helper.recv()["spawn_error"]
    assert (error["errno"], error["filename"]) == (errno.EACCES, "tool")
    helper.step(3, ["tool"], env={"PATH": str(tmp_path / "missing")})
    assert helper.recv()["spawn_error"]["errno"] == errno.ENOENT


def test_spawn_errors(helper: Helper, tmp_path: Path) -> None:
    """What cannot be started is answered with the error's errno, text and file."""
    helper.step(1, ["alertreflex-no-such-program"])
    assert helper.recv() == {
        "id": 1,
        "spawn_error": {
            "errno": errno.ENOENT,
            "strerror": os.strerror(errno.ENOENT),
            "filename": "alertreflex-no-such-program",
        },
    }
    missing = str(tmp_path / "nope")
    helper.step(2, ["true"], cwd=missing)
    assert helper.recv()["spawn_error"]["filename"] == missing
    helper.step(3, ["true"], cwd="/tmp/a\0b")
    assert helper.recv() == {"id": 3, "spawn_error": {"value_error": "embedded null byte"}}


def test_cancel_kills_the_group(helper: Helper, tmp_path: Path) -> None:
    """A cancel kills the step's process group and is answered as cancelled."""
    pids = tmp_path / "pids"
    helper.step(7, [PY, "-c", WITH_GRANDCHILD, str(pids)], timeout=60.0)
    child, grandchild = wait_for_pids(pids, 2)
    helper.send({"cancel": 7})
    assert helper.recv() == {"id": 7, "failed": CANCELLED}
    assert gone(child)
    assert gone(grandchild)
    helper.send({"cancel": 7})  # no longer running: nothing to do, nothing to answer
    helper.step(8, ["true"])
    assert helper.recv()["id"] == 8


def test_ctrl_c_leaves_the_steps_to_the_server(helper: Helper, tmp_path: Path) -> None:
    """SIGINT (Ctrl-C reaches the server's whole process group) neither stops the
    helper nor its steps: the server ends them within its shutdown grace."""
    pids = tmp_path / "pids"
    helper.step(1, [PY, "-c", WITH_GRANDCHILD, str(pids)], timeout=60.0)
    child, _ = wait_for_pids(pids, 2)
    os.kill(helper.proc.pid, signal.SIGINT)
    helper.step(2, ["true"])
    assert helper.recv()["id"] == 2
    assert alive(child)
    helper.send({"cancel": 1})
    assert helper.recv() == {"id": 1, "failed": CANCELLED}


def test_end_of_file_kills_every_group_and_exits(tmp_path: Path) -> None:
    """When the server closes the helper's stdin (or dies), every group it started is
    killed, the running steps are answered as cancelled, and the helper exits."""
    h = Helper()
    try:
        assert h.recv() == {"ready": True}
        all_pids = []
        for step_id in (1, 2):
            pids = tmp_path / f"pids-{step_id}"
            h.step(step_id, [PY, "-c", WITH_GRANDCHILD, str(pids)], timeout=60.0)
            all_pids += wait_for_pids(pids, 2)
        h.stdin.close()
        answers = [h.recv(), h.recv()]
        assert sorted(a["id"] for a in answers) == [1, 2]
        assert all(a["failed"] == CANCELLED for a in answers)
        assert h.recv() is None
        assert h.proc.wait(5) == 0
        for pid in all_pids:
            assert gone(pid), pid
    finally:
        h.close()


def test_commands_do_not_inherit_the_helpers_fds() -> None:
    """An fd the helper was started with (uvloop leaves copies of its stdio) does not
    reach commands: one holding the helper's stdout would hide the helper's death."""
    r, w = os.pipe()
    os.dup2(w, 57)
    os.close(w)
    try:
        h = Helper(HELPER, pass_fds=(57,))
    finally:
        os.close(57)
    try:
        assert h.recv() == {"ready": True}
        h.step(1, [PY, "-c", "import os; print(sorted(map(int, os.listdir('/proc/self/fd'))))"])
        assert 57 not in json.loads(h.recv()["stdout"])
    finally:
        h.close()
        os.close(r)


def test_bad_requests_are_answered_and_the_helper_serves_on(helper: Helper) -> None:
    """A malformed frame gets an error answer; the next request is served."""
    helper.stdin.write(frame(b"not json"))
    answer = helper.recv()
    assert answer["id"] is None
    assert answer["failed"].startswith("exec worker: ")
    helper.send([1, 2])
    assert "JSON object" in helper.recv()["failed"]
    helper.step(4, "true")  # type: ignore[arg-type]
    assert helper.recv() == {
        "id": 4,
        "failed": "exec worker: BadRequest: argv must be a non-empty list of strings",
    }
    helper.step(5, ["true"], timeout=float("nan"))
    assert "timeout" in helper.recv()["failed"]
    helper.step(6, ["true"], stdin=b"x" * 10)
    assert helper.recv()["returncode"] == 0


def test_the_helper_loads_neither_asyncio_nor_pydantic() -> None:
    """The helper stays lean: after serving steps (one through Popen, for its cwd),
    none of asyncio, pydantic or orjson is loaded."""
    code = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_module('alertreflex.actions.exec_worker', run_name='__main__')\n"
        "finally:\n"
        "    heavy = {'asyncio', 'pydantic', 'pydantic_core', 'orjson'}\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)\n"
    )
    h = Helper([PY, "-c", code], stderr=subprocess.PIPE)
    try:
        assert h.recv() == {"ready": True}
        h.step(1, ["true"])
        h.step(2, ["true"], cwd="/")
        assert sorted(h.recv()["id"] for _ in range(2)) == [1, 2]
        h.stdin.close()
        assert h.proc.stderr is not None
        loaded = h.proc.stderr.read().decode()
    finally:
        h.close()
    assert loaded.strip() == "[]"


def test_idle_memory(helper: Helper) -> None:
    """The idle helper's resident memory stays small (~10-12 MiB)."""
    status = Path(f"/proc/{helper.proc.pid}/status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    assert rss_kib < 20 * 1024
