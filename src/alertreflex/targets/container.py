"""Programs in a container, run through the engine's exec API.

What the host path guarantees, kept where the engine allows it:

* **argv only.** The exec's ``Cmd`` is the argument list; no shell is involved.
* **Environment.** ``Program.env`` is passed as the exec's ``Env``, on top of the
  container's own (its image's): nothing of the server's environment.
* **stdin.** Written at once and closed (a half-close of the attached connection), so
  a program that reads to end of file gets it and one that never reads is not waited on.
* **Output.** stdout and stderr arrive demultiplexed and go to the caller's sinks.
* **Timeout.** The API has no kill for an exec. The program is started with a random
  mark in its environment; right after the start the engine tells its pid on the
  engine's host, and :class:`~alertreflex.targets.process.ExecProcess` checks that
  pid against the mark. At the timeout its whole process group gets SIGKILL from
  here. When alertreflex cannot see or signal that process (it runs in a container
  of its own, on another host than the engine, or as a user that may not signal the
  container's processes), a second exec kills, from inside the container, every
  process that carries the mark, with a fixed ``sh`` script that gets the mark as
  its argument (no alert data). If the container has no ``sh`` either, the step says
  that the command may still run.
* **Leftovers.** When the program exits, what it left in its group is killed too, when
  its process is visible from here.
* **Exit code.** From the exec's inspection once it ended.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import aiodocker
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from alertreflex.config.containers import ContainerAccess
from alertreflex.core.container_policy import refusal
from alertreflex.targets.base import (
    Ambiguous,
    Completion,
    NoMatch,
    NotRunning,
    Program,
    ProgramNotFound,
    Refused,
    Sink,
    Target,
    TargetError,
)
from alertreflex.targets.engine import ContainerInfo, EngineClient
from alertreflex.targets.engines import SHARED, EnginePool
from alertreflex.targets.params import ContainerSelector
from alertreflex.targets.process import EXEC_MARK_VAR, ExecProcess

# Looking for the program's process just after the start: attempts, and the pause
# between two (it may still be the runtime's process for a moment).
FIND_ATTEMPTS = 10
FIND_PAUSE = 0.02

# Kills, inside the container, every process whose environment holds the mark ($1).
# dash and busybox sh drop the NUL bytes of a command substitution, so the variables
# run together; the mark is random and of fixed length, so a substring match is exact.
KILL_SCRIPT = f"""\
n=0
for d in /proc/[0-9]*; do
  case "$(cat "$d/environ" 2>/dev/null)" in
    *"{EXEC_MARK_VAR}=$1"*) kill -KILL "${{d#/proc/}}" 2>/dev/null && n=$((n+1)) ;;
  esac
done
echo "$n"
"""

# How the runtime reports a program it could not start, with exit code 126 or 127:
# runc (Docker, Podman) `exec: "PROG": executable file not found in $PATH`,
# `exec: "/PROG": stat /PROG: no such file or directory`; crun
# "executable file `PROG` not found in $PATH".
_START_FAILURE = 'exec: "{0}": (.*)|executable file `{0}`(.*)'
# ... and a working directory it could not enter (runc's words, Docker and Podman).
_BAD_CWD = re.compile(r'chdir to cwd \("(.*?)"\) set in config\.json failed: ([^:\n]*)')


async def open_container(
    access: ContainerAccess,
    ref: str | ContainerSelector,
    team: str,
    pool: EnginePool = SHARED,
) -> ContainerTarget:
    """The container a step names, once the engine showed that the reflex's team may
    act on it and that it runs; TargetError otherwise."""
    client = pool.client(access)
    timeout = access.api_timeout
    if isinstance(ref, ContainerSelector):
        container = await _select(client, ref, team, access.ownership_label, timeout)
    else:
        container = await client.inspect(ref, timeout)
    why = refusal(
        container.name,
        container.labels,
        team=team,
        ownership_label=access.ownership_label,
        match=access.match,
    )
    if why is not None:
        raise Refused(why)
    if not container.running:
        raise NotRunning(f"container {container.name} is not running ({container.status})")
    return ContainerTarget(client, container, timeout)


async def _select(
    client: EngineClient, ref: ContainerSelector, team: str, label: str, timeout: float
) -> ContainerInfo:
    pinned = ref.labels.get(label)
    if pinned is not None and pinned != team:
        raise Refused(
            f"the selector asks for {label}={pinned}, but this reflex belongs to team {team!r}: "
            "reflexes act only on their own team's containers"
        )
    # Only the team's own containers are candidates, so another team's never makes a
    # selector ambiguous, nor shows up in this team's run records.
    found = await client.running_with({**ref.labels, label: team}, timeout)
    if not found:
        raise NoMatch(f"no running container of team {team!r} has labels {ref.describe()}")
    if len(found) > 1:
        names = ", ".join(sorted(c.name for c in found))
        raise Ambiguous(
            f"{len(found)} running containers of team {team!r} have labels "
            f"{ref.describe()} ({names}); narrow the selector"
        )
    return found[0]


class ContainerTarget(Target):
    #: After SIGKILL, how long the program's output may take to end.
    kill_grace: float = 5.0
    #: How long the engine may take to report an ended exec as ended.
    exit_grace: float = 2.0

    def __init__(self, client: EngineClient, container: ContainerInfo, api_timeout: float):
        self.client = client
        self.container = container
        self.api_timeout = api_timeout
        # asyncio cannot half-close a TLS connection: over TLS, a program's stdin could
        # be written but never ended, and one that reads to its end would hang.
        self.accepts_stdin = not client.endpoint.base.startswith("https:")

    def describe(self) -> str:
        return f"container {self.container.name}"

    def details(self) -> dict[str, Any]:
        return {"container": {"name": self.container.name, "id": self.container.short_id}}

    async def run(self, program: Program, stdout: Sink, stderr: Sink) -> Completion:
        mark = secrets.token_hex(16)
        env = {**(program.env or {}), EXEC_MARK_VAR: mark}
        execution = await self.client.create_exec(
            self.container,
            program.argv,
            env,
            program.cwd,
            program.stdin is not None,
            self.api_timeout,
        )
        head = bytearray()  # the start of stderr, where the runtime says why it could not start

        def on_stderr(data: bytes) -> None:
            if len(head) < 4096:
                head.extend(data[: 4096 - len(head)])
            stderr(data)

        stream = execution.start(detach=False)
        proc: ExecProcess | None = None
        started = False
        try:
            async with self.client.call(self.api_timeout):
                await stream.__aenter__()  # starts the program
            started = True
            proc = await self._find_process(execution, mark)
            if program.stdin is not None:
                _send_stdin(stream, program.stdin)
            done = await self._wait(stream, execution, proc, mark, program, stdout, on_stderr)
        except (asyncio.CancelledError, TargetError):
            # Cancelled (shutdown, cancel_on_resolve) or unable to go on: leave nothing
            # running behind.
            if started:
                await self._stop(proc, mark)
            raise
        finally:
            if proc is not None:
                proc.close()
            await stream.close()
        if done.exit_code in (126, 127) and not done.timed_out:
            self._check_started(program.argv[0], head.decode(errors="replace"))
        return done

    async def _wait(
        self,
        stream: Stream,
        execution: Exec,
        proc: ExecProcess | None,
        mark: str,
        program: Program,
        stdout: Sink,
        stderr: Sink,
    ) -> Completion:
        timed_out = False
        try:
            async with asyncio.timeout(program.timeout):
                await _pump(stream, stdout, stderr)
        except TimeoutError:
            timed_out = True
        note = killed_from = ""
        if timed_out:
            killed_from, note = await self._stop(proc, mark)
            try:
                async with asyncio.timeout(self.kill_grace):
                    await _pump(stream, stdout, stderr)
            except TimeoutError:
                note = note or (
                    f"the command may still run in container {self.container.name}: it "
                    "did not stop after SIGKILL"
                )
        code = await self._exit_code(execution)
        if proc is not None and not timed_out:
            proc.kill_leftovers()
        return Completion(code, timed_out, note, killed_from)

    async def _find_process(self, execution: Exec, mark: str) -> ExecProcess | None:
        # Just after the start the pid may still be the runtime's, not yet the program
        # with its environment (seen under load): look again for a short while.
        for _ in range(FIND_ATTEMPTS):
            try:
                async with self.client.call(self.api_timeout):
                    info = await execution.inspect()
            except (TargetError, aiodocker.DockerError):
                return None
            if not info.get("Running"):
                return None  # already over
            found = ExecProcess.find(int(info.get("Pid") or 0), mark)
            if found is not None:
                return found
            await asyncio.sleep(FIND_PAUSE)
        return None

    async def _exit_code(self, execution: Exec) -> int | None:
        deadline = asyncio.get_running_loop().time() + self.exit_grace
        while True:
            try:
                async with self.client.call(self.api_timeout):
                    info = await execution.inspect()
            except (TargetError, aiodocker.DockerError):
                return None
            if not info.get("Running"):
                code = info.get("ExitCode")
                return code if isinstance(code, int) else None
            if asyncio.get_running_loop().time() > deadline:
                return None
            await asyncio.sleep(0.02)

    async def _stop(self, proc: ExecProcess | None, mark: str) -> tuple[str, str]:
        """Kill the program and all it started: from where it was killed ("host",
        "container" or ""), and what the step should say if that may not have worked."""
        if proc is not None:
            proc.kill()
            return "host", ""
        why = await self._kill_inside(mark)
        if why is None:
            return "container", ""
        return "", (
            f"the command may still run in container {self.container.name}: alertreflex "
            f"cannot see its process from here and could not kill it inside the container "
            f"({why}); run alertreflex on the engine's host, in its PID namespace, as root"
        )

    async def _kill_inside(self, mark: str) -> str | None:
        """Kill the mark's processes with an exec of ``sh``; None if that ran."""
        out = bytearray()
        err = bytearray()
        try:
            execution = await self.client.create_exec(
                self.container,
                ["sh", "-c", KILL_SCRIPT, "alertreflex-kill", mark],
                {},
                None,
                False,
                self.api_timeout,
            )
            async with self.client.call(self.api_timeout), execution.start(detach=False) as s:
                await _pump(s, out.extend, err.extend)
            code = await self._exit_code(execution)
        except TargetError as exc:
            return str(exc)
        except aiodocker.DockerError as exc:
            return exc.message
        if code != 0:
            text = err.decode(errors="replace")
            try:
                self._check_started("sh", text)
            except TargetError as exc:
                return str(exc)
            lines = text.strip().splitlines()
            return f"sh exited with {code}" + (f": {lines[0]}" if lines else "")
        return None

    def _check_started(self, program: str, head: str) -> None:
        """Raise if the runtime could not start the program at all."""
        where = f"container {self.container.name}"
        if (cwd := _BAD_CWD.search(head)) is not None:
            raise TargetError(
                f"cannot use working directory {cwd.group(1)!r} in {where}: {cwd.group(2)}"
            )
        found = re.search(_START_FAILURE.format(re.escape(program)), head)
        if found is None:
            return  # the program ran and chose its exit code
        why = (found.group(1) or found.group(2) or "").lower()
        if "not found" in why or "no such file" in why:
            on_path = "" if "/" in program else " on its PATH"
            raise ProgramNotFound(f"{where} has no program {program!r}{on_path}")
        reason = "permission denied" if "permission denied" in why else why.strip()
        raise TargetError(f"cannot run {program!r} in {where}: {reason}")


async def _pump(stream: Stream, stdout: Sink, stderr: Sink) -> None:
    while (message := await stream.read_out()) is not None:
        (stdout if message.stream == 1 else stderr)(message.data)


def _send_stdin(stream: Stream, data: bytes) -> None:
    """Write ``data`` and close the program's stdin, without waiting for it to read.

    aiodocker's stream can write (waiting for the engine to take it) and close both
    directions, but not close its writing side alone; the attached connection's own
    transport can, and buffers what the engine does not take yet.
    """
    if not hasattr(stream, "_resp"):
        raise TargetError("cannot send standard input: aiodocker's exec stream changed")
    connection = getattr(stream._resp, "connection", None)
    # Any: the server's loop is uvloop, whose transports are not asyncio's classes.
    transport: Any = getattr(connection, "transport", None)
    if transport is None or transport.is_closing():
        return  # the engine already ended the exec (it could not start, or it was quick)
    transport.write(data)
    if transport.can_write_eof():
        transport.write_eof()
