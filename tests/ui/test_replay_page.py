"""``alertreflex replay --html``: the report's page in a real browser (Debian's
Chromium through Playwright), from a replay of a real Prometheus's history and of two
revisions of a real git repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import run_cli
from tests.replay.history import prometheus_with
from tests.replay.test_replay_prometheus import (
    HISTORY,
    OPERATOR,
    WEEK_END,
    WEEK_START,
    _at,
    _rfc3339,
    change_repo,
)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus_with(tmp_path_factory.mktemp("prom"), HISTORY) as url:
        yield url


def test_the_page_charts_each_reflex_before_and_after(
    browser: Browser, prometheus: str, tmp_path: Path
) -> None:
    """Per reflex a bar per day and revision: dump's day holds 2 runs before (one
    skipped by the cooldown) and 3 after; pizza is new. Hovering tells the figures."""
    repo, _ = change_repo(tmp_path)
    operator = tmp_path / "operator.yml"
    operator.write_text(OPERATOR)
    page_file = tmp_path / "replay.html"
    done = run_cli(
        "replay",
        "--repo",
        str(repo.path),
        "--config",
        str(operator),
        "--before",
        "main",
        "--after",
        "change",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--prometheus",
        prometheus,
        "--from",
        _rfc3339(WEEK_START),
        "--to",
        _rfc3339(WEEK_END),
        "--html",
        str(page_file),
    )
    assert done.returncode == 0, done.stderr
    # The UI's stylesheet is inlined as it is: quotes escaped would break its rules.
    assert "&#34;" not in page_file.read_text().split("</style>")[0]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(page_file.as_uri())
        expect(page.locator("h1")).to_contain_text("What the reflexes would have done")
        font = page.evaluate("getComputedStyle(document.body).fontFamily")
        assert font.startswith("system-ui"), font
        dump = page.locator('section[data-reflex="dump"]')
        expect(dump.locator(".replay-change")).to_contain_text("2 → 3 runs that act (+1)")
        day = _rfc3339(_at(1, 10))[:10]
        before = dump.locator(f'g.bar[data-day="{day}"][data-series="before"]')
        after = dump.locator(f'g.bar[data-day="{day}"][data-series="after"]')
        expect(before.locator("title")).to_have_text(f"{day} (before): 2 run(s) act, 1 skipped")
        expect(after.locator("title")).to_have_text(f"{day} (after): 3 run(s) act, 0 skipped")
        # The bars are drawn to scale: the after bar is the taller (3 against 2).
        before_box = before.locator("rect.acted").bounding_box()
        after_box = after.locator("rect.acted").bounding_box()
        assert before_box is not None and after_box is not None
        assert after_box["height"] == pytest.approx(before_box["height"] * 3 / 2, rel=0.02)
        # Eight days (the range's first to its last) of two bars each.
        assert dump.locator("g.bar").count() == 16
        pizza = page.locator('section[data-reflex="pizza"]')
        expect(pizza.locator(".replay-change")).to_contain_text("new: 1 run(s) would act")
        expect(pizza).to_contain_text("outside active_time_intervals (daytime)")
    finally:
        context.close()
