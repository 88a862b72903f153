"""The replay report as a page of the UI (``alertreflex replay --html FILE``): per
reflex a chart of the runs per day that would act and that would be skipped, and,
for two revisions, the runs before beside them. One self-contained file (the UI's
stylesheet inlined, no script), to open in a browser or attach to a pull request."""

from __future__ import annotations

from datetime import date, timedelta
from importlib.resources import files
from typing import Any

from alertreflex.web.ui import _environment

BAR, GAP, HEIGHT = 14, 10, 120  # px: a bar, between days, the tallest bar
SLOT = 40  # px: at least this per day, for its label (MM-DD)


def days_of(doc: dict[str, Any]) -> list[str]:
    """Every day of the replay's range, as its per-day counts name them."""
    first, last = date.fromisoformat(doc["from"][:10]), date.fromisoformat(doc["to"][:10])
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def chart(days: list[str], after: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """Bars for one reflex: each day the runs that act (and before the change, when
    comparing) and the runs skipped, scaled to the busiest day."""
    series = [("after", after)] if before is None else [("before", before), ("after", after)]
    busiest = max(
        [0]
        + [
            r.get("per_day", {}).get(d, 0) + r.get("skipped_per_day", {}).get(d, 0)
            for _, r in series
            for d in days
        ]
    )
    peak = max(1, busiest)
    width = max(len(series) * BAR + GAP, SLOT)
    bars = []
    for i, day in enumerate(days):
        x0 = i * width
        for j, (name, r) in enumerate(series):
            acted = r.get("per_day", {}).get(day, 0)
            skipped = r.get("skipped_per_day", {}).get(day, 0)
            h_acted = HEIGHT * acted / peak
            h_skipped = HEIGHT * skipped / peak
            bars.append(
                {
                    "series": name,
                    "day": day,
                    "x": x0 + j * BAR,
                    "acted": acted,
                    "skipped": skipped,
                    "y_acted": HEIGHT - h_acted,
                    "h_acted": h_acted,
                    "y_skipped": HEIGHT - h_acted - h_skipped,
                    "h_skipped": h_skipped,
                }
            )
    return {
        "bars": bars,
        "width": len(days) * width,
        "height": HEIGHT,
        "peak": busiest,
        "labels": [{"day": d, "x": i * width} for i, d in enumerate(days)],
    }


def render(docs: list[dict[str, Any]], change: dict[str, Any] | None = None) -> str:
    """The page for one replay, or for two (``docs`` before and after, ``change``)."""
    after = docs[-1]
    before = docs[0] if len(docs) == 2 else None
    days = days_of(after)
    names = list(change["changes"]) if change else []
    names += [n for n in after["reflexes"] if n not in names]
    if before is not None:
        names += [n for n in before["reflexes"] if n not in names]
    reflexes = []
    for name in names:
        a = after["reflexes"].get(name)
        b = before["reflexes"].get(name) if before is not None else None
        shown = a or b
        assert shown is not None
        reflexes.append(
            {
                "name": name,
                "after": a,
                "before": b,
                "team": shown["team"],
                "change": (change or {}).get("changes", {}).get(name),
                "chart": chart(days, a or {}, None if before is None else (b or {})),
            }
        )
    css = (files("alertreflex.web") / "static" / "style.css").read_text(encoding="utf-8")
    template = _environment().get_template("replay.html")
    return template.render(css=css, after=after, before=before, change=change, reflexes=reflexes)
