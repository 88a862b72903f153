"""``alertreflex runs``: recent runs from a running server."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from alertreflex.cli._common import FAILED, OK, add_command, api_error, auth_headers
from alertreflex.defaults import DEFAULT_LISTEN

if TYPE_CHECKING:
    from pydantic import BaseModel

# RunState's and Trigger's values, here so that --help need not import the models.
STATES = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "skipped",
    "interrupted",
    "awaiting_approval",
    "rejected",
    "expired",
    "cancelled",
)
TRIGGERS = ("firing", "resolved", "restore")
MAX_LIMIT = 1000  # web/api.py's


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {MAX_LIMIT}")
    return value


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "runs",
        "List recent runs of a running alertreflex, newest first, or show one in full: "
        "each step's rendered parameters, output and timings, and the alert.",
        "alertreflex runs --reflex threaddump-orange-bucket --limit 20\n"
        "  alertreflex runs --show 06h4kq2",
    )
    p.add_argument(
        "--url",
        default=f"http://{DEFAULT_LISTEN}",
        help=f"alertreflex base URL (default http://{DEFAULT_LISTEN})",
    )
    p.add_argument("--reflex", metavar="NAME", help="only runs of this reflex")
    p.add_argument(
        "--state",
        choices=STATES,
        metavar="STATE",
        help=f"only runs in this state ({', '.join(STATES)})",
    )
    p.add_argument(
        "--trigger",
        choices=TRIGGERS,
        metavar="TRIGGER",
        help="only runs for this trigger: firing, resolved, or restore (reversible steps "
        "put back after their max_duration or at shutdown)",
    )
    p.add_argument(
        "--limit",
        type=_limit,
        default=20,
        metavar="N",
        help=f"at most N runs, 1 to {MAX_LIMIT} (default 20)",
    )
    p.add_argument(
        "--show",
        metavar="RUN_ID",
        help="print one run in full; any unique prefix of its id will do, as with git",
    )
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p.set_defaults(func=run)


def _ts(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _clock(value: float | None, day_of: float | None) -> str:
    """A time to the millisecond, without its date when that is ``day_of``'s (UTC)."""
    if value is None:
        return "-"
    when = datetime.fromtimestamp(value, UTC)
    same_day = day_of is not None and datetime.fromtimestamp(day_of, UTC).date() == when.date()
    return when.strftime("%H:%M:%S.%f" if same_day else "%Y-%m-%d %H:%M:%S.%f")[:-3]


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.3f}s"
    minutes, secs = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _duration(r: dict[str, Any]) -> str:
    if r.get("started_at") is None or r.get("finished_at") is None:
        return "-"
    return _seconds(r["finished_at"] - r["started_at"])


def _printable(text: str) -> str:
    """Alert and output text for a terminal: control characters (an escape sequence
    in a label) shown escaped instead of acting on the terminal."""
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text)


def table(runs: list[dict[str, Any]]) -> str:
    head = ["ID", "CREATED (UTC)", "REFLEX", "TRIGGER", "STATE", "DURATION", "REASON"]
    rows = [
        [
            r["id"],
            _ts(r["created_at"]),
            r["reflex"],
            r["trigger"],
            r["state"],
            _duration(r),
            _printable(r["reason"][:60]),
        ]
        for r in runs
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=False)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    )


def _timings(r: dict[str, Any]) -> str:
    created, started, finished = r["created_at"], r.get("started_at"), r.get("finished_at")
    parts = [f"created {_ts(created)} UTC"]
    if started is not None:
        parts.append(f"started {_clock(started, created)} (waited {_seconds(started - created)})")
    if finished is not None:
        took = f" (took {_seconds(finished - started)})" if started is not None else ""
        parts.append(f"finished {_clock(finished, created)}{took}")
    parts.append(f"attempts {r['attempts']}")
    return "  " + ", ".join(parts)


def _alert_lines(alert: dict[str, Any], starts_at: str) -> list[str]:
    labels = ", ".join(f"{k}={json.dumps(v)}" for k, v in alert.get("labels", {}).items())
    lines = [
        f"  alert {_printable(labels)}",
        f"    starts_at {_printable(starts_at)}, fingerprint {alert.get('fingerprint', '-')}",
    ]
    if alert.get("generator_url"):
        lines.append(f"    generator {_printable(alert['generator_url'])}")
    annotations: dict[str, str] = alert.get("annotations") or {}
    if annotations:
        lines.append("    annotations:")
    for name, value in sorted(annotations.items()):
        first, *rest = str(value).splitlines() or [""]
        lines.append(f"      {_printable(name)}: {_printable(first)}")
        lines.extend(f"        {_printable(line)}" for line in rest)
    return lines


@functools.cache
def _models() -> dict[str, type[BaseModel]]:
    from alertreflex.actions.base import load_action_types, params_models

    return params_models(load_action_types())


def _step_lines(s: dict[str, Any], created: float) -> list[str]:
    started, finished = s.get("started_at"), s.get("finished_at")
    outcome = s.get("outcome") or ("running" if started is not None else "not run")
    took = f" in {_seconds(finished - started)}" if started is not None and finished else ""
    what = s.get("summary") or s.get("error") or ""
    lines = [
        f"  step {s['index']} {_printable(s['name'])} ({s['action']}): "
        f"{outcome}{took}{' - ' + _printable(what) if what else ''}"
    ]
    if started is not None:
        attempt = f", attempt {s['attempt']}" if s.get("attempt", 1) > 1 else ""
        ended = f"finished {_clock(finished, created)}" if finished else "not finished"
        lines.append(f"    started {_clock(started, created)}, {ended}{attempt}")
    if s.get("params") is not None:
        # What the config set, as the UI's run page shows it: not every default.
        from alertreflex.actions.shown import set_params  # pydantic: only for --show

        lines.append(f"    params: {json.dumps(set_params(_models(), s))}")
    if s.get("output"):
        lines.extend(f"    | {_printable(line)}" for line in s["output"].rstrip("\n").splitlines())
    return lines


def show(r: dict[str, Any], base: str = "") -> str:
    reason = f" - {_printable(r['reason'])}" if r["reason"] else ""
    lines = [
        f"run {r['id']}: reflex {r['reflex']} ({r['team']}), {r['trigger']}, {r['state']}" + reason,
        _timings(r),
    ]
    if r.get("alert"):
        lines.extend(_alert_lines(r["alert"], r["starts_at"]))
    if r.get("pruned_at"):
        lines.append(
            f"  history removed by retention at {_ts(r['pruned_at'])}: the alert, steps and "
            "output are gone; the run is kept so that its episode does not run again"
        )
    if r.get("state") == "awaiting_approval":
        lines.append(
            f"  awaiting approval until {_ts(r.get('expires_at'))}: these steps would run "
            f"(alertreflex approve {r['id']} / alertreflex reject {r['id']} --reason ...)"
        )
    if r.get("approved_by"):
        lines.append(f"  approved by {_printable(r['approved_by'])}")
    if r.get("manual_by"):
        lines.append(f"  manual re-run by {_printable(r['manual_by'])} of run {r.get('rerun_of')}")
    for s in r.get("steps") or ():
        lines.extend(_step_lines(s, r["created_at"]))
    for a in r.get("artifacts", ()):
        cut = ", truncated" if a["truncated"] else ""
        lines.append(f"  artifact {a['name']} ({a['size']} bytes{cut}): {base}{a['url']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import httpx

    base = args.url.rstrip("/")
    try:
        with httpx.Client(timeout=10, headers=auth_headers(), trust_env=False) as client:
            if args.show:
                resp = client.get(f"{base}/api/v1/runs/{quote(args.show, safe='')}")
            else:
                params = {
                    k: v
                    for k, v in (
                        ("reflex", args.reflex),
                        ("state", args.state),
                        ("trigger", args.trigger),
                        ("limit", str(args.limit)),
                    )
                    if v
                }
                resp = client.get(f"{base}/api/v1/runs", params=params)
    except httpx.HTTPError as exc:
        print(f"alertreflex runs: cannot reach {base}: {exc}", file=sys.stderr)
        return FAILED
    if resp.status_code != 200:
        print(f"alertreflex runs: {resp.status_code}: {api_error(resp)}", file=sys.stderr)
        return FAILED
    data = resp.json()
    if args.json:
        print(json.dumps(data, indent=2))
    elif args.show:
        print(show(data, base))
    else:
        print(table(data["runs"]) if data["runs"] else "no runs")
    return OK
