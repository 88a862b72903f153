"""A child process for ``exec``, watched with the event loop's own readers.

asyncio's subprocess transports cost about 0.8 ms of the spawning process's CPU per
child here (a transport per pipe, a protocol, the child watcher's callbacks), nearly
twice the spawn itself (issue 19's measurement: ~1,250 children/s against ~2,300/s).
Here the child is started by :class:`subprocess.Popen` (vfork and exec on Linux), its
pipes are non-blocking fds read with ``loop.add_reader``, and its exit is seen on a
pidfd (``os.pidfd_open``, Linux 5.3+) with ``add_reader`` too, then reaped with
``Popen.poll``. Without pidfds (older kernels, other systems) a timer polls instead.

The child leads a new session (its pid is its process group), so its group can be
killed at once; it gets stdin as a pipe that is written without ever waiting on it,
and stdout and stderr each kept to a limit while the rest is read and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO

from alertreflex.actions._output import CappedBuffer

_READ = 65536
_POLL = 0.01  # seconds between exit polls, where there is no pidfd


class Child:
    """One running child: its output so far, its exit, and the end of its pipes."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | None,
        stdin: bytes,
        limit: int,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        # Raises OSError (no such program, ...) or ValueError (a NUL byte in cwd).
        # Unbuffered: the pipes are raw files, read and written by fd below.
        self._proc = subprocess.Popen(
            list(argv),
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self._proc.pid
        self.stdout = CappedBuffer(limit)
        self.stderr = CappedBuffer(limit)
        self.exited: asyncio.Future[int] = self._loop.create_future()
        self.pipes_closed: asyncio.Future[None] = self._loop.create_future()
        stdin_file, out_file, err_file = self._proc.stdin, self._proc.stdout, self._proc.stderr
        assert stdin_file is not None  # all three are pipes: PIPE was asked for
        assert out_file is not None
        assert err_file is not None
        self._stdin_file: IO[bytes] | None = stdin_file
        self._in = stdin_file.fileno()
        self._out: dict[int, tuple[IO[bytes], CappedBuffer]] = {
            out_file.fileno(): (out_file, self.stdout),
            err_file.fileno(): (err_file, self.stderr),
        }
        for fd in self._out:
            os.set_blocking(fd, False)
            self._loop.add_reader(fd, self._readable, fd)
        self._pending = memoryview(stdin)
        os.set_blocking(self._in, False)
        self._write_stdin()
        self._pidfd = -1
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfds here: poll
            self._loop.call_later(_POLL, self._poll_exit)
        else:
            self._loop.add_reader(self._pidfd, self._reap)

    # -- stdin: written as the child reads it, never waited on

    def _write_stdin(self) -> None:
        if self._stdin_file is None:
            return
        try:
            while self._pending:
                written = os.write(self._in, self._pending)
                self._pending = self._pending[written:]
        except BlockingIOError:
            self._loop.add_writer(self._in, self._stdin_writable)
            return
        except OSError:  # the child closed stdin or exited: the rest is not wanted
            pass
        self._close_stdin()

    def _stdin_writable(self) -> None:
        self._loop.remove_writer(self._in)
        self._write_stdin()

    def _close_stdin(self) -> None:
        if self._stdin_file is not None:
            self._loop.remove_writer(self._in)
            self._stdin_file.close()
            self._stdin_file = None

    # -- output

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._out[fd][1].feed(data)
            return
        self._close_output(fd)

    def _close_output(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        self._out.pop(fd)[0].close()
        if not self._out and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    # -- exit

    def _reap(self) -> None:
        code = self._proc.poll()
        if code is None:  # woken without an exit (should not happen): wait on
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        if not self.exited.done():
            self.exited.set_result(code)

    def _poll_exit(self) -> None:
        code = self._proc.poll()
        if code is None:
            self._loop.call_later(_POLL, self._poll_exit)
        elif not self.exited.done():
            self.exited.set_result(code)

    @property
    def returncode(self) -> int | None:
        return self.exited.result() if self.exited.done() else None

    def release(self) -> None:
        """Stop watching the pipes (an escaped process may hold them open for ever) and
        drop unwritten stdin. The exit is still watched, so the child is reaped."""
        self._close_stdin()
        for fd in list(self._out):
            self._close_output(fd)
        self._pending = memoryview(b"")


def kill_group(pgid: int, sig: int) -> None:
    # ESRCH: the group is already empty. EPERM: on some systems a group made only of
    # zombies cannot be signalled. Neither leaves anything for us to do.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
