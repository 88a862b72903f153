"""Killing a process group: the one way every part of alertreflex stops what it started.

Standard library only: the lean ``exec`` helper (:mod:`alertreflex.actions.exec_worker`)
imports it too.
"""

from __future__ import annotations

import contextlib
import os
import signal


def kill_group(pgid: int) -> None:
    """SIGKILL to every process of group ``pgid``.

    ESRCH: the group is already empty. EPERM: on some systems a group made only of
    zombies cannot be signalled. Neither leaves anything for us to do.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
