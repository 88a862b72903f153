"""The ``exec`` helper process: ``python -m alertreflex.actions.exec_worker``.

The server prepares each host step (argv, environment, stdin: see
:meth:`~alertreflex.actions.exec.ExecAction.execute`) and sends it here over stdin;
this process only spawns and watches, and answers on stdout (the frames are in
:mod:`alertreflex.actions.exec_frames`). It is kept lean on purpose, standard library
only: no asyncio, no pydantic, no orjson (whose import alone costs ~3.5 MiB and
~35 ms here), nor any alertreflex module that loads them. One synchronous loop on a
selector watches its stdin for requests, each child's stdout and stderr, the write end
of each child's stdin, each child's pidfd, and a heap of timers.

Children are started with ``os.posix_spawn`` (about half the CPU of ``subprocess.Popen``
here), with ``Popen`` only for a step with a ``cwd``, which posix_spawn cannot set on
Python 3.11. The guarantees are those of :mod:`alertreflex.actions.exec`: own session
and process group, stdin never waited on, output capped and the rest read, SIGKILL to
the group on timeout and once the main process has exited, escaped processes' pipes
given up after a grace. A cancel kills the step's group; end-of-file on stdin (the
server closed it or died) kills every group this process started, then it exits.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import json
import os
import selectors
import signal
import stat
import time

from alertreflex.actions._output import CappedBuffer
from alertreflex.actions.exec_frames import CANCELLED, frame, next_frame
from alertreflex.process_groups import kill_group

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not loaded at run time: it would only cost memory here
    import subprocess
    from typing import Any

_READ = 65536  # a pipe's default capacity: one read drains it
_REQUESTS_READ = 262144
_POLL = 0.01  # seconds between exit polls, where there are no pidfds
_EXIT_GRACE = 2.0  # seconds to reap killed children and send the last answers at exit
# What subprocess.Popen's restore_signals gives back to children: Python ignores them.
_RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
_NOT_FOUND = (errno.ENOENT, errno.ENOTDIR)
_INF = float("inf")
_READ_EVENT = selectors.EVENT_READ
_WRITE_EVENT = selectors.EVENT_WRITE
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

_use_posix_spawn = hasattr(os, "posix_spawn")
_use_pidfd = hasattr(os, "pidfd_open")


class BadRequest(ValueError):
    pass


# -- spawning


def spawn(
    argv: list[str], env: dict[str, str], cwd: str | None
) -> tuple[int, subprocess.Popen[bytes] | None, int, int, int]:
    """Start ``argv`` in a new session with stdin, stdout and stderr on pipes.

    Returns the pid, the Popen object if one was used (kept until the child is reaped,
    so that subprocess never reaps it behind our back) and this side's ends of the
    three pipes, non-blocking. Raises OSError or ValueError (a NUL byte in cwd) as
    Popen does.
    """
    global _use_posix_spawn
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    popen = None
    try:
        if cwd is None and _use_posix_spawn:
            try:
                pid = _posix_spawn(argv, env, in_r, out_w, err_w)
            except NotImplementedError:  # a libc without POSIX_SPAWN_SETSID
                _use_posix_spawn = False
        if cwd is not None or not _use_posix_spawn:
            popen = _popen(argv, env, cwd, in_r, out_w, err_w)
            pid = popen.pid
    except BaseException:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    for fd in (in_w, out_r, err_r):
        os.set_blocking(fd, False)
    return pid, popen, in_w, out_r, err_r


def _posix_spawn(argv: list[str], env: dict[str, str], stdin: int, stdout: int, stderr: int) -> int:
    """posix_spawn with subprocess's PATH search: a program without a slash is looked up
    on the PATH of ``env``, each candidate tried in turn; the error reported is the
    first that is not "no such file", else that one."""
    program = argv[0]
    actions = [
        (os.POSIX_SPAWN_DUP2, stdin, 0),
        (os.POSIX_SPAWN_DUP2, stdout, 1),
        (os.POSIX_SPAWN_DUP2, stderr, 2),
    ]
    # The other fds need no closing: Python opens every fd close-on-exec, and those
    # this process was started with are made so (_no_inherited_fds).
    search = "/" not in program
    if search:
        # os.get_exec_path(env), without its warnings.catch_warnings (the names and
        # values here are all str).
        path = env.get("PATH")
        dirs = (os.defpath if path is None else path).split(os.pathsep)
        candidates = [os.path.join(d, program) for d in dirs]
    else:
        candidates = [program]
    first_error = 0
    last_error = errno.ENOENT
    for path in candidates:
        if search:
            # A failed exec costs a whole clone: skip the candidates that do not exist.
            try:
                os.stat(path)
            except (FileNotFoundError, NotADirectoryError) as exc:
                last_error = exc.errno or errno.ENOENT
                continue
            except OSError:
                pass  # let the exec say what it is
        try:
            return os.posix_spawn(
                path,
                argv,
                env,
                file_actions=actions,
                setsid=True,
                setsigdef=_RESTORED_SIGNALS,
            )
        except OSError as exc:
            if exc.errno in _NOT_FOUND:
                last_error = exc.errno or errno.ENOENT
            elif not first_error:
                first_error = exc.errno or errno.EIO
    code = first_error or last_error
    raise OSError(code, os.strerror(code), program)


def _popen(
    argv: list[str], env: dict[str, str], cwd: str | None, stdin: int, stdout: int, stderr: int
) -> subprocess.Popen[bytes]:
    import subprocess  # only for steps with a cwd: most helpers never load it

    return subprocess.Popen(
        argv,
        bufsize=0,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )


# -- steps

_RUNNING, _KILLED, _DRAINING, _DONE = range(4)


class Step:
    """One running step: its child, pipes, exit, timer and output so far."""

    __slots__ = (
        "bufs",
        "helper",
        "id",
        "in_fd",
        "kill_grace",
        "pending",
        "phase",
        "pid",
        "pidfd",
        "pipe_grace",
        "pipes",
        "pipes_held_open",
        "popen",
        "returncode",
        "timed_out",
        "timer",
        "writing",
    )

    def __init__(
        self,
        helper: Helper,
        step_id: int,
        spawned: tuple[int, subprocess.Popen[bytes] | None, int, int, int],
        stdin: bytearray,
        limit: int,
        timeout: float,
        pipe_grace: float,
        kill_grace: float,
    ) -> None:
        self.helper = helper
        self.id = step_id
        self.pid, self.popen, self.in_fd, out_fd, err_fd = spawned
        self.pipes = [out_fd, err_fd]
        self.bufs = (CappedBuffer(limit), CappedBuffer(limit))
        self.pipe_grace = pipe_grace
        self.kill_grace = kill_grace
        self.returncode: int | None = None
        self.timed_out = False
        self.pipes_held_open = False
        self.phase = _RUNNING
        self.timer: list[Any] | None = None
        self.writing = False
        self.pidfd = -1
        sel = helper.sel
        sel.register(out_fd, _READ_EVENT, self._read_stdout)
        sel.register(err_fd, _READ_EVENT, self._read_stderr)
        self.pending = memoryview(stdin)
        self._write_stdin()
        global _use_pidfd
        if _use_pidfd:
            try:
                self.pidfd = os.pidfd_open(self.pid)
            except OSError as exc:  # poll this one; all of them on a kernel before 5.3
                if exc.errno == errno.ENOSYS:
                    _use_pidfd = False
            else:
                sel.register(self.pidfd, _READ_EVENT, self._exit_seen)
        if self.pidfd < 0:
            helper.polled.add(self)
        self._set_timer(timeout)

    # stdin: written as the child reads it, never waited on

    def _write_stdin(self, _mask: int = 0) -> None:
        fd = self.in_fd
        if fd < 0:
            return
        try:
            while self.pending:
                written = os.write(fd, self.pending)
                self.pending = self.pending[written:]
        except BlockingIOError:
            if not self.writing:
                self.helper.sel.register(fd, _WRITE_EVENT, self._write_stdin)
                self.writing = True
            return
        except OSError:  # the child closed its stdin or exited: the rest is not wanted
            pass
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self.in_fd >= 0:
            if self.writing:
                self.helper.sel.unregister(self.in_fd)
                self.writing = False
            os.close(self.in_fd)
            self.in_fd = -1
            self.pending = memoryview(b"")

    # output

    def _read_stdout(self, _mask: int) -> None:
        self._read(0)

    def _read_stderr(self, _mask: int) -> None:
        self._read(1)

    def _read(self, which: int) -> None:
        fd = self.pipes[which]
        if fd < 0:  # closed earlier in this round of events
            return
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.bufs[which].feed(data)
            return
        self._close_pipe(which)
        if self.phase == _DRAINING and self.pipes[0] < 0 and self.pipes[1] < 0:
            self._finish()

    def _close_pipe(self, which: int) -> None:
        fd = self.pipes[which]
        if fd >= 0:
            self.helper.sel.unregister(fd)
            os.close(fd)
            self.pipes[which] = -1

    # exit

    def _exit_seen(self, _mask: int) -> None:
        if self.pidfd >= 0:
            self.poll_exit()

    def poll_exit(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (cannot happen): as Popen.poll does
            code = 0
        else:
            if pid == 0:  # not exited (a spurious wake-up, or the poll found it running)
                return
            code = os.waitstatus_to_exitcode(status)
        self.returncode = code
        if self.popen is not None:
            self.popen.returncode = code  # so that the Popen never polls for it again
            self.popen = None
        if self.pidfd >= 0:
            self.helper.sel.unregister(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        self.helper.polled.discard(self)
        if self.phase == _DONE:  # answered already (cancelled or never died): only reaped
            self.helper.reaping.discard(self)
        else:
            self._main_gone()

    def _main_gone(self) -> None:
        """The main process has exited, or would not die within kill_grace."""
        # A child it put in the background (``cmd &``) would hold the output pipes
        # open and outlive the run unaccounted for: kill the rest of the group. (While
        # any member lives, the kernel keeps the group id reserved, so this cannot hit
        # an unrelated process; when none does, it fails with ESRCH.)
        kill_group(self.pid)
        if self.pipes[0] < 0 and self.pipes[1] < 0:
            self._finish()
        else:
            # Processes that left the group (setsid) are out of reach: do not wait on
            # the pipes they hold for ever.
            self.phase = _DRAINING
            self._set_timer(self.pipe_grace)

    # timers: one per step at a time

    def _set_timer(self, delay: float) -> None:
        self._cancel_timer()
        self.timer = [time.monotonic() + delay, self.helper.next_seq(), self]
        heapq.heappush(self.helper.timers, self.timer)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer[2] = None
            self.helper.stale_timers += 1
            self.timer = None

    def timer_expired(self) -> None:
        self.timer = None
        if self.phase == _RUNNING:
            self.timed_out = True
            kill_group(self.pid)
            self.phase = _KILLED
            self._set_timer(self.kill_grace)
        elif self.phase == _KILLED:
            self._main_gone()
        elif self.phase == _DRAINING:
            self.pipes_held_open = True
            self._finish()

    # the end

    def _finish(self, answer: dict[str, Any] | None = None) -> None:
        """Answer the step and stop watching its pipes; a child that has not exited is
        killed with its group, and still reaped when it exits."""
        self._cancel_timer()
        self._close_stdin()
        self._close_pipe(0)
        self._close_pipe(1)
        self.phase = _DONE
        helper = self.helper
        del helper.steps[self.id]
        if answer is None:
            out, err = self.bufs
            answer = {
                "id": self.id,
                "returncode": self.returncode,
                "timed_out": self.timed_out,
                "stdout": out.text(),
                "stderr": err.text(),
                "pipes_held_open": self.pipes_held_open,
            }
        helper.send(answer)
        if self.returncode is None:
            kill_group(self.pid)
            helper.reaping.add(self)

    def cancel(self) -> None:
        self._finish({"id": self.id, "failed": CANCELLED})


# -- the process


class Helper:
    """The process's state: the selector, running steps, timers, framed I/O."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.steps: dict[int, Step] = {}
        self.reaping: set[Step] = set()  # answered, not exited yet
        self.polled: set[Step] = set()  # exits watched by polling (no pidfd)
        self.timers: list[list[Any]] = []
        self.stale_timers = 0
        self._seq = 0
        self._requests = bytearray()
        self._out = bytearray()
        self._out_registered = False
        self.reading = True
        # posix_spawn's dup2 onto 0, 1 and 2 assumes that no pipe gets one of them.
        for fd in (0, 1, 2):
            try:
                os.fstat(fd)
            except OSError:
                os.open(os.devnull, os.O_RDWR)  # takes the lowest free fd: this one
        # The server's stdin and stdout are pipes. Run by hand, they may be a terminal
        # or a file: then stdout stays blocking (O_NONBLOCK would reach the terminal's
        # other users), and a stdin that epoll refuses (a file, /dev/null) is read
        # straight to its end.
        self._stdin_polled = True
        try:
            self.sel.register(0, _READ_EVENT, self._read_requests)
        except PermissionError:
            self._stdin_polled = False
        if stat.S_ISFIFO(os.fstat(1).st_mode) or stat.S_ISSOCK(os.fstat(1).st_mode):
            os.set_blocking(1, False)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def serve(self) -> None:
        self._out += frame(b'{"ready":true}')
        self._flush()
        while self.reading:
            self._round(self._wait(None))
        # End-of-file: every step is answered and its group killed. Reap the children
        # and send the last answers, for a bounded time.
        deadline = time.monotonic() + _EXIT_GRACE
        while self.reaping or self._out:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._round(self._wait(left))

    def _wait(self, limit: float | None) -> float | None:
        """How long the next select may wait: until the next timer, at most ``limit``."""
        timers = self.timers
        while timers and timers[0][2] is None:
            heapq.heappop(timers)
            self.stale_timers -= 1
        wait = limit
        if timers:
            wait = max(0.0, timers[0][0] - time.monotonic())
            if limit is not None:
                wait = min(wait, limit)
        if self.polled and (wait is None or wait > _POLL):
            wait = _POLL
        return wait

    def _round(self, timeout: float | None) -> None:
        if not self._stdin_polled and self.reading:
            self._read_requests(0)
            timeout = 0
        for key, mask in self.sel.select(timeout):
            key.data(mask)
        self._run_timers()
        if self.polled:
            for step in list(self.polled):
                step.poll_exit()
        self._flush()

    def _run_timers(self) -> None:
        timers = self.timers
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            step = heapq.heappop(timers)[2]
            if step is None:
                self.stale_timers -= 1
            else:
                step.timer_expired()
        # Most timeouts never expire: drop the cancelled timers once they are most of
        # the heap, so that it holds the live steps, not every step of the last minutes.
        if self.stale_timers > 256 and self.stale_timers * 2 > len(timers):
            self.timers = [t for t in timers if t[2] is not None]
            heapq.heapify(self.timers)
            self.stale_timers = 0

    # requests

    def _read_requests(self, _mask: int) -> None:
        try:
            data = os.read(0, _REQUESTS_READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._end()
            return
        buf = self._requests
        buf += data
        start = 0
        while (got := next_frame(buf, start)) is not None:
            doc, blob, start = got
            self._request(doc, blob)
        del buf[:start]

    def _request(self, raw: bytearray, blob: bytearray) -> None:
        step_id: Any = None
        try:
            doc = json.loads(raw.decode())
            if not isinstance(doc, dict):
                raise BadRequest("a frame must be a JSON object")
            if "cancel" in doc:
                step = self.steps.get(doc["cancel"])
                if step is not None:
                    step.cancel()
                return  # an unknown step: it has ended already, and was answered
            step_id = doc.get("id")
            argv, env, cwd, limit, timeout, pipe_grace, kill_grace = _spec(doc)
            if step_id in self.steps:
                raise BadRequest(f"step {step_id} is running already")
            try:
                spawned = spawn(argv, env, cwd)
            except OSError as exc:
                self.send(
                    {
                        "id": step_id,
                        "spawn_error": {
                            "errno": exc.errno,
                            "strerror": exc.strerror,
                            "filename": exc.filename,
                        },
                    }
                )
                return
            except ValueError as exc:  # e.g. a NUL byte in cwd
                self.send({"id": step_id, "spawn_error": {"value_error": str(exc)}})
                return
            try:
                self.steps[step_id] = Step(
                    self, step_id, spawned, blob, limit, timeout, pipe_grace, kill_grace
                )
            except BaseException:
                kill_group(spawned[0])  # never leave a child unwatched
                raise
        except Exception as exc:  # one bad request never takes the helper down
            self.send({"id": step_id, "failed": f"exec worker: {type(exc).__name__}: {exc}"})

    def _end(self) -> None:
        """End-of-file on stdin: the server has closed it, or died. Kill every group."""
        self.reading = False
        if self._stdin_polled:
            self.sel.unregister(0)
        for step in list(self.steps.values()):
            step.cancel()
        for step in self.reaping:
            kill_group(step.pid)

    def kill_all(self) -> None:
        """The last resort, on the way out whatever happened."""
        for step in (*self.steps.values(), *self.reaping):
            if step.returncode is None:
                kill_group(step.pid)

    # answers

    def send(self, doc: dict[str, Any]) -> None:
        self._out += frame(_encode(doc).encode())

    def _flush(self, _mask: int = 0) -> None:
        out = self._out
        if not out or (self._out_registered and not _mask):
            return
        try:
            del out[: os.write(1, out)]
        except BlockingIOError:
            pass
        except OSError:  # the server is gone: its end-of-file on our stdin follows
            out.clear()
        if out and not self._out_registered:
            self.sel.register(1, _WRITE_EVENT, self._flush)
            self._out_registered = True
        elif not out and self._out_registered:
            self.sel.unregister(1)
            self._out_registered = False


def _spec(
    doc: dict[str, Any],
) -> tuple[list[str], dict[str, str], str | None, int, float, float, float]:
    """A request's fields, checked before anything is spawned."""
    if not isinstance(doc.get("id"), int) or isinstance(doc["id"], bool):
        raise BadRequest("id must be an integer")
    argv = doc.get("argv")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise BadRequest("argv must be a non-empty list of strings")
    env = doc.get("env")
    if not (
        isinstance(env, dict) and all(isinstance(v, str) for v in env.values())
    ):  # the names are strings: JSON object keys
        raise BadRequest("env must map names to strings")
    cwd = doc.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise BadRequest("cwd must be a string or null")
    limit = doc.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise BadRequest("limit must be a non-negative integer")
    times = []
    for name in ("timeout", "pipe_grace", "kill_grace"):
        value = doc.get(name)
        # Finite: NaN or infinity would break the timer heap.
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < _INF:
            raise BadRequest(f"{name} must be a finite number of seconds")
        times.append(float(value))
    return argv, env, cwd, limit, times[0], times[1], times[2]


def _no_inherited_fds() -> bool:
    """Make the fds this process was started with, beyond 0-2, close-on-exec.

    posix_spawn, unlike Popen, closes nothing in the child, and the server's event loop
    may leave fds to this process (uvloop leaves copies of our stdin and stdout): a
    command holding our stdout would keep the server from seeing that we died.
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return False
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):  # the listing's own fd, closed by now
                os.set_inheritable(fd, False)
    return True


def _keep_running(_signum: int, _frame: object) -> None:
    """Ctrl-C reaches the server's whole process group: the server then ends its steps
    within its shutdown grace and closes our stdin; dying here would cut that short. A
    handler rather than SIG_IGN, which children would inherit."""


def main() -> None:
    global _use_posix_spawn
    if not _no_inherited_fds():  # no /proc to list them: let Popen close them
        _use_posix_spawn = False
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _keep_running)
    helper = Helper()
    try:
        helper.serve()
    finally:
        helper.kill_all()


if __name__ == "__main__":
    main()
