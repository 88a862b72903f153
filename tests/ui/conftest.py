"""A real Chromium driven by Playwright, for the UI tests.

The browser is Debian's chromium, not one Playwright downloads: the tests must fail
(never skip) when it is missing, so that a machine without it cannot pass them.

The browser lives for one module, not the session: Playwright's sync API keeps its
event loop marked as running while it is alive, which would break the asyncio tests
that run after this directory in the same pytest session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")

# Users of the servers that have settings.auth: (name, password).
OPERATOR = ("olivia", "olivia-ui-password")
VIEWER = ("vera", "vera-ui-password")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} is missing: the UI tests need a real browser, "
            "`sudo apt-get install chromium`",
            pytrace=False,
        )
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def auth_settings(directory: Path) -> str:
    """A ``settings.auth`` block with an operator and a viewer (bcrypt cost 4)."""
    lines = ["settings:", "  auth:", "    users:"]
    for (name, password), role in ((OPERATOR, "operator"), (VIEWER, "viewer")):
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        path = directory / f"{name}.hash"
        path.write_text(hashed + "\n")
        lines.append(f"      - {{name: {name}, role: {role}, password_hash_file: {path}}}")
    return "\n".join(lines) + "\n"
