"""Programs on the alertreflex host, as the server's user, in a session of their own.

Used by ``jvm_thread_dump`` for jcmd. ``exec`` keeps its own host path (a helper
process that spawns, see ``actions/exec_worker.py``), tuned for thousands of steps a
second.
"""

from __future__ import annotations

import asyncio
import contextlib

from alertreflex.process_groups import kill_group
from alertreflex.targets.base import Completion, Program, ProgramNotFound, Sink, Target, TargetError


class HostTarget(Target):
    def describe(self) -> str:
        return ""

    async def run(self, program: Program, stdout: Sink, stderr: Sink) -> Completion:
        name = program.argv[0]
        try:
            proc = await asyncio.create_subprocess_exec(
                *program.argv,
                stdin=asyncio.subprocess.PIPE
                if program.stdin is not None
                else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=program.env,
                cwd=program.cwd,
                start_new_session=True,  # a timeout kills the program and all it started
            )
        except FileNotFoundError as exc:
            raise ProgramNotFound(f"cannot run {name}: {exc.strerror}") from None
        except OSError as exc:
            raise TargetError(f"cannot run {name}: {exc.strerror}") from None
        assert proc.stdout is not None
        assert proc.stderr is not None
        if proc.stdin is not None and program.stdin is not None:
            # Buffered by the transport: a program that does not read is not waited on.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(program.stdin)
                proc.stdin.close()

        async def pump(stream: asyncio.StreamReader, sink: Sink) -> None:
            while chunk := await stream.read(65536):
                sink(chunk)

        try:
            async with asyncio.timeout(program.timeout):
                await asyncio.gather(pump(proc.stdout, stdout), pump(proc.stderr, stderr))
                return Completion(await proc.wait())
        except TimeoutError:
            kill_group(proc.pid)
            await proc.wait()
            return Completion(proc.returncode, timed_out=True)
        except asyncio.CancelledError:
            kill_group(proc.pid)
            raise
