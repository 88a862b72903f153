"""The host's view of an exec'd process: a pid is used only when the process carries
the step's mark, so a reused or foreign pid is never signalled."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from alertreflex.targets.process import EXEC_MARK_VAR, ExecProcess
from tests.actions.test_exec import alive


def _sleeper(mark: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import os, time; os.fork() or time.sleep(60); time.sleep(60)"],
        env={**os.environ, EXEC_MARK_VAR: mark},
        start_new_session=True,
    )


def test_only_the_marked_process_is_found_and_its_group_killed() -> None:
    """A process with the mark is found and killed with its child (one group); the
    same pid asked for with another mark, a pid that does not exist and pid 0 are not."""
    proc = _sleeper("a" * 32)
    try:
        time.sleep(0.3)  # the child is forked
        assert ExecProcess.find(proc.pid, "b" * 32) is None
        assert ExecProcess.find(2**22 + 1, "a" * 32) is None
        assert ExecProcess.find(0, "a" * 32) is None
        found = ExecProcess.find(proc.pid, "a" * 32)
        assert found is not None
        group = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == proc.pid]
        assert len(group) == 2
        found.kill()
        found.close()
        assert proc.wait(5) == -9
        deadline = time.monotonic() + 5
        while any(alive(int(p)) for p in group) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(alive(int(p)) for p in group)
    finally:
        proc.kill()
        proc.wait()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
