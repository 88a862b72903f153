"""What a replay found, per reflex: as a JSON-able summary, as text, as Markdown,
and as the difference between two configs (``--before``/``--after``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from alertreflex.replay.simulate import (
    AWAITING,
    FAILED,
    PENDING,
    RAN,
    SKIPPED,
    Assumptions,
    SimRun,
)

NIGHT = (22, 6)  # local hours: a run that starts from 22:00 to 05:59 is "at night"
SAMPLES = 3  # rendered runs shown per reflex
SKIPS_SHOWN = 5  # skipped episodes listed per reflex

Render = Callable[[SimRun], list[dict[str, Any]]]


def iso(t: float, tz: tzinfo = UTC) -> str:
    return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds").replace("+00:00", "Z")


def at_night(t: float, tz: tzinfo) -> bool:
    hour = datetime.fromtimestamp(t, tz).hour
    return hour >= NIGHT[0] or hour < NIGHT[1]


def summarize(
    runs: list[SimRun],
    *,
    start: float,
    end: float,
    episodes: int,
    assumptions: Assumptions,
    reflexes: Mapping[str, str],
    tz: tzinfo = UTC,
    render: Render | None = None,
) -> dict[str, Any]:
    """The replay as a document (``--json`` prints it). ``reflexes`` maps every
    configured reflex to its team: those that would never have run are listed too."""
    by_reflex: dict[str, list[SimRun]] = {name: [] for name in reflexes}
    for r in runs:
        by_reflex.setdefault(r.reflex, []).append(r)
    out: dict[str, Any] = {
        "from": iso(start, tz),
        "to": iso(end, tz),
        "episodes": episodes,
        "assumptions": {
            "run_time_seconds": assumptions.run_time,
            "fail_rate": assumptions.fail_rate,
            "seed": assumptions.seed,
            "approvals_given": assumptions.approve,
        },
        "reflexes": {},
    }
    for name in sorted(by_reflex):
        rs = by_reflex[name]
        acted = [r for r in rs if r.state in (RAN, FAILED)]
        states = Counter(r.state for r in rs)
        skipped = Counter(r.category for r in rs if r.state == SKIPPED)
        days = Counter(iso(r.started or r.due, tz)[:10] for r in acted)
        skipped_days = Counter(iso(r.due, tz)[:10] for r in rs if r.state == SKIPPED)
        doc: dict[str, Any] = {
            "team": reflexes.get(name, rs[0].team if rs else ""),
            "runs": len(rs),
            "acted": len(acted),
            "firing": sum(1 for r in acted if r.trigger.value == "firing"),
            "resolved": sum(1 for r in acted if r.trigger.value == "resolved"),
            "failed": states[FAILED],
            "awaiting_approval": states[AWAITING],
            "pending": states[PENDING],
            "at_night": sum(1 for r in acted if at_night(r.started or r.due, tz)),
            "skipped": dict(sorted(skipped.items())),
            "per_day": dict(sorted(days.items())),
            "skipped_per_day": dict(sorted(skipped_days.items())),
            "first": iso(acted[0].started or acted[0].due, tz) if acted else None,
            "last": iso(acted[-1].started or acted[-1].due, tz) if acted else None,
            "skipped_episodes": [
                {
                    "alert": dict(r.episode.labels),
                    "at": iso(r.due, tz),
                    "trigger": r.trigger.value,
                    "category": r.category,
                    "reason": r.reason,
                }
                for r in rs
                if r.state == SKIPPED
            ][:SKIPS_SHOWN],
        }
        if render is not None:
            doc["samples"] = [
                {
                    "at": iso(r.started or r.due, tz),
                    "trigger": r.trigger.value,
                    "alert": dict(r.episode.labels),
                    "steps": render(r),
                }
                for r in acted[:SAMPLES]
            ]
        out["reflexes"][name] = doc
    return out


def text(doc: Mapping[str, Any]) -> str:
    """The summary for people: per reflex, its counts, a timeline and samples."""
    lines = [
        f"replay {doc['from']} .. {doc['to']}: {doc['episodes']} episode(s), "
        f"{_assumed(doc['assumptions'])}"
    ]
    for name, r in doc["reflexes"].items():
        lines.append("")
        lines.append(f"reflex {name} (team {r['team']}): {_counts(r)}")
        if r["per_day"]:
            width = max(r["per_day"].values())
            for day, n in r["per_day"].items():
                bar = "#" * max(1, round(40 * n / width))
                lines.append(f"  {day}  {bar} {n}")
        for s in r["skipped_episodes"]:
            lines.append(
                f"  skipped {s['trigger']} {_labels(s['alert'])} at {s['at']}: {s['reason']}"
            )
        for sample in r.get("samples", []):
            lines.append(
                f"  sample {sample['trigger']} run at {sample['at']}"
                f" for {_labels(sample['alert'])}:"
            )
            for step in sample["steps"]:
                shown = step.get("describe") or step.get("error") or step.get("params")
                lines.append(f"    {step['name']}: {shown}")
    return "\n".join(lines)


def markdown(doc: Mapping[str, Any]) -> str:
    """A table a CI job can post on a pull request."""
    lines = [
        f"**alertreflex replay** of {doc['episodes']} alert episode(s), "
        f"{doc['from']} to {doc['to']} ({_assumed(doc['assumptions'])})",
        "",
        "| reflex | team | runs that act | at night | skipped |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for name, r in doc["reflexes"].items():
        skipped = ", ".join(f"{k} {v}" for k, v in r["skipped"].items()) or "-"
        lines.append(f"| `{name}` | {r['team']} | {r['acted']} | {r['at_night']} | {skipped} |")
    return "\n".join(lines)


def _assumed(a: Mapping[str, Any]) -> str:
    parts = [f"each run lasting {a['run_time_seconds']:g}s"]
    parts.append(f"{a['fail_rate']:.0%} failing" if a["fail_rate"] else "every run succeeding")
    parts.append("approvals given" if a["approvals_given"] else "no approval given")
    return ", ".join(parts)


def _counts(r: Mapping[str, Any]) -> str:
    if not r["runs"]:
        return "no run"
    out = [f"{r['acted']} run(s) would act"]
    if r["acted"]:
        out[-1] += f" ({r['firing']} firing, {r['resolved']} resolved; {r['at_night']} at night)"
    if r["failed"]:
        out.append(f"{r['failed']} of them failing")
    if r["awaiting_approval"]:
        out.append(f"{r['awaiting_approval']} waiting for an approval")
    if r["pending"]:
        out.append(f"{r['pending']} still waiting when the range ended")
    if r["skipped"]:
        out.append("skipped: " + ", ".join(f"{k} {v}" for k, v in r["skipped"].items()))
    return "; ".join(out)


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What changes between two replays of the same history (two configs): per reflex
    added, removed or acting differently, with before and after figures."""
    changes: dict[str, Any] = {}
    unchanged = 0
    for name in sorted(set(before["reflexes"]) | set(after["reflexes"])):
        b, a = before["reflexes"].get(name), after["reflexes"].get(name)
        status = "added" if b is None else "removed" if a is None else "changed"
        bf, af = _figures(b), _figures(a)
        if status == "changed" and bf == af:
            unchanged += 1
            continue
        skipped = {
            cat: [bf["skipped"].get(cat, 0), af["skipped"].get(cat, 0)]
            for cat in sorted(set(bf["skipped"]) | set(af["skipped"]))
        }
        changes[name] = {
            "status": status,
            "team": (a or b or {}).get("team", ""),
            "acted": [bf["acted"], af["acted"]],
            "at_night": [bf["at_night"], af["at_night"]],
            "failed": [bf["failed"], af["failed"]],
            "awaiting_approval": [bf["awaiting_approval"], af["awaiting_approval"]],
            "skipped": {k: v for k, v in skipped.items() if v[0] != v[1]},
        }
    return {"changes": changes, "unchanged": unchanged}


def _figures(r: Mapping[str, Any] | None) -> dict[str, Any]:
    if r is None:
        return {"acted": 0, "at_night": 0, "failed": 0, "awaiting_approval": 0, "skipped": {}}
    keys = ("acted", "at_night", "failed", "awaiting_approval", "skipped")
    return {k: r[k] for k in keys}


def diff_text(d: Mapping[str, Any], before: str, after: str) -> str:
    """One line per reflex that would act differently after the change."""
    changes = d["changes"]
    lines = [
        f"{before} -> {after}: {len(changes)} reflex(es) would act differently, "
        f"{d['unchanged']} the same"
    ]
    for name, c in changes.items():
        (b, a), (bn, an) = c["acted"], c["at_night"]
        if c["status"] == "added":
            lines.append(
                f"  + {name} (team {c['team']}, new): {a} run(s) would act, {an} of them at night"
            )
            continue
        if c["status"] == "removed":
            lines.append(f"  - {name} (team {c['team']}, removed): {b} run(s) would no longer act")
            continue
        parts = [f"{a - b:+d} run(s) that act ({b} -> {a})"]
        if an != bn:
            parts.append(f"{an - bn:+d} at night ({bn} -> {an})")
        for key, label in (("failed", "failing"), ("awaiting_approval", "awaiting approval")):
            x, y = c[key]
            if x != y:
                parts.append(f"{label} {x} -> {y}")
        if c["skipped"]:
            parts.append(
                "skipped " + ", ".join(f"{cat} {x} -> {y}" for cat, (x, y) in c["skipped"].items())
            )
        lines.append(f"  ~ {name} (team {c['team']}): " + "; ".join(parts))
    return "\n".join(lines)


def diff_markdown(d: Mapping[str, Any], before: str, after: str, doc: Mapping[str, Any]) -> str:
    """The change as a pull-request comment: what each changed reflex would do."""
    lines = [
        f"**alertreflex replay** of {doc['episodes']} alert episode(s), {doc['from']} to "
        f"{doc['to']}, `{before}` -> `{after}` ({_assumed(doc['assumptions'])})",
        "",
    ]
    if not d["changes"]:
        lines.append(f"No reflex would act differently ({d['unchanged']} compared).")
        return "\n".join(lines)
    lines += [
        "| reflex | team | runs that act | at night | skipped |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, c in d["changes"].items():
        (b, a), (bn, an) = c["acted"], c["at_night"]
        shown = {"added": f"{a} (new)", "removed": f"{b} -> 0 (removed)"}.get(
            c["status"], f"{b} -> {a} ({a - b:+d})"
        )
        skipped = ", ".join(f"{k} {x} -> {y}" for k, (x, y) in c["skipped"].items()) or "-"
        lines.append(f"| `{name}` | {c['team']} | {shown} | {bn} -> {an} | {skipped} |")
    lines.append("")
    lines.append(f"{d['unchanged']} other reflex(es) would act as before.")
    return "\n".join(lines)
