"""The ceiling of bench/peers.py's flood: the action script alone, no HTTP, no record.

    python spawn_ceiling.py SECONDS COMMAND [ARG...]   (a counter is added as last arg)

Keeps 64 children running for SECONDS with ``os.posix_spawn`` (no pipes: output to
/dev/null) and reaps them with ``os.wait``; prints how many it started. No receiver of
alerts runs the same script faster on this machine: whatever receives them spends its
own CPU besides the children's.
"""

from __future__ import annotations

import os
import sys
import time

IN_FLIGHT = 64


def main() -> None:
    seconds = float(sys.argv[1])
    command = sys.argv[2:]
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    started = running = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while running < IN_FLIGHT:
            argv = [*command, f"c{started:012x}"]
            os.posix_spawn(command[0], argv, env, file_actions=actions, setsid=True)
            started += 1
            running += 1
        os.wait()
        running -= 1
    while running:
        os.wait()
        running -= 1
    print(started)


if __name__ == "__main__":
    main()
