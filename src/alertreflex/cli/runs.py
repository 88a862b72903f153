"""``alertreflex runs``: recent runs from a running server."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from alertreflex.cli._common import add_command, api_error, auth_headers
from alertreflex.defaults import DEFAULT_LISTEN


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "runs",
        "List recent runs of a running alertreflex, newest first.",
        "alertreflex runs --reflex threaddump-orange-bucket --limit 20",
    )
    p.add_argument(
        "--url",
        default=f"http://{DEFAULT_LISTEN}",
        help=f"alertreflex base URL (default http://{DEFAULT_LISTEN})",
    )
    p.add_argument("--reflex", help="only runs of this reflex")
    p.add_argument(
        "--state",
        help="only runs in this state (queued, running, succeeded, failed, timed_out, "
        "skipped, interrupted, awaiting_approval, rejected, expired, cancelled)",
    )
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--show", metavar="RUN_ID", help="print one run in full")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p.set_defaults(func=run)


def _ts(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(r: dict[str, Any]) -> str:
    if r.get("started_at") is None or r.get("finished_at") is None:
        return "-"
    return f"{r['finished_at'] - r['started_at']:.3f}s"


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
            r["reason"][:60],
        ]
        for r in runs
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=False)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    )


def show(r: dict[str, Any], base: str = "") -> str:
    lines = [
        f"run {r['id']}: reflex {r['reflex']} ({r['team']}), {r['trigger']}, "
        f"{r['state']}{' - ' + r['reason'] if r['reason'] else ''}",
        f"  created {_ts(r['created_at'])}, started {_ts(r['started_at'])}, "
        f"finished {_ts(r['finished_at'])}, attempts {r['attempts']}",
    ]
    if r.get("alert"):
        lines.append(f"  alert {json.dumps(r['alert']['labels'])} starts_at {r['starts_at']}")
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
        lines.append(f"  approved by {r['approved_by']}")
    if r.get("manual_by"):
        lines.append(f"  manual re-run by {r['manual_by']} of run {r.get('rerun_of')}")
    for s in r["steps"]:
        lines.append(
            f"  step {s['index']} {s['name']} ({s['action']}): "
            f"{s.get('outcome', '?')} - {s.get('summary', s.get('error', ''))}"
        )
        if s.get("params") is not None:
            lines.append(f"    params: {json.dumps(s['params'])}")
        if s.get("output"):
            lines.extend(f"    | {line}" for line in s["output"].rstrip("\n").splitlines())
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
                resp = client.get(f"{base}/api/v1/runs/{args.show}")
            else:
                params = {
                    k: v
                    for k, v in (
                        ("reflex", args.reflex),
                        ("state", args.state),
                        ("limit", str(args.limit)),
                    )
                    if v
                }
                resp = client.get(f"{base}/api/v1/runs", params=params)
    except httpx.HTTPError as exc:
        print(f"alertreflex runs: cannot reach {base}: {exc}", file=sys.stderr)
        return 2
    if resp.status_code != 200:
        print(f"alertreflex runs: {resp.status_code}: {api_error(resp)}", file=sys.stderr)
        return 1
    data = resp.json()
    if args.json:
        print(json.dumps(data, indent=2))
    elif args.show:
        print(show(data, base))
    else:
        print(table(data["runs"]) if data["runs"] else "no runs")
    return 0
