"""The host's view of a program the engine started in a container.

The engine's API cannot kill an exec. What it does tell is the program's pid on the
engine's host (``GET /exec/{id}/json``, ``Pid``), and runc makes that program a session
and process-group leader, so its children share its group. When alertreflex runs on
that host, in its PID namespace and allowed to signal the program (root, or the same
user), ``killpg`` stops the program and everything it started.

A pid alone could name another process: a remote engine's pid means nothing here,
alertreflex in a container of its own sees other pids, and pids are reused. So the
program is started with a random mark in its environment (``EXEC_MARK_VAR``) and a
pid is used only after ``/proc/PID/environ`` showed that mark, through a pidfd opened
before the check so that the process checked is the process signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal

from alertreflex.process_groups import kill_group

EXEC_MARK_VAR = "ALERTREFLEX_EXEC_ID"


class ExecProcess:
    """A program started in a container, seen and verified from the host."""

    def __init__(self, pid: int, pidfd: int, leads_group: bool) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._leads_group = leads_group

    @classmethod
    def find(cls, pid: int, mark: str) -> ExecProcess | None:
        """The process ``pid`` if it is the one started with ``mark``, else None (not
        visible from here, not ours, or not allowed to look)."""
        if pid <= 0:
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            if f"{EXEC_MARK_VAR}={mark}".encode() not in environ:
                raise LookupError
            # Still alive, so /proc/PID was this pidfd's process, not a successor.
            signal.pidfd_send_signal(pidfd, 0)
            leads_group = os.getpgid(pid) == pid
        except (OSError, LookupError):
            os.close(pidfd)
            return None
        return cls(pid, pidfd, leads_group)

    def kill(self) -> None:
        """SIGKILL to the program and, when it leads its group, everything in it."""
        if self._leads_group:
            kill_group(self.pid)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def kill_leftovers(self) -> None:
        """After the program exited: kill what it left running in its group. While any
        member lives the kernel keeps the group id reserved, so this cannot reach an
        unrelated process; when none does, it fails with ESRCH."""
        if self._leads_group:
            kill_group(self.pid)

    def close(self) -> None:
        os.close(self._pidfd)
