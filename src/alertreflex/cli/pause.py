"""``alertreflex pause`` and ``alertreflex resume``: the brakes of a running alertreflex."""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from typing import Any

from alertreflex.cli._common import (
    FAILED,
    OK,
    TOKEN_ENV,
    add_command,
    api_error,
    auth_headers,
)
from alertreflex.defaults import DEFAULT_LISTEN


def register(sub: Any) -> None:
    for name, verb, example in (
        (
            "pause",
            "Pause a running alertreflex (no new run acts; restores still run), or "
            "disable one reflex with --reflex. Persisted: a restart keeps it.",
            'alertreflex pause --reason "deploying the bucket service"',
        ),
        (
            "resume",
            "Resume a paused alertreflex, or re-enable one reflex with --reflex (also "
            "one its circuit breaker disabled).",
            'alertreflex resume --reflex threaddump-orange-bucket --reason "fixed"',
        ),
    ):
        p = add_command(sub, name, verb, example)
        p.add_argument("--reflex", metavar="NAME", help="only this reflex")
        p.add_argument("--reason", required=True, help="why: recorded with who and when")
        p.add_argument(
            "--url",
            default=f"http://{DEFAULT_LISTEN}",
            help=f"alertreflex base URL (default http://{DEFAULT_LISTEN})",
        )
        p.add_argument(
            "--by",
            help=f"who is acting (default: USER@HOST; with auth, the ${TOKEN_ENV} user)",
        )
        p.set_defaults(func=run, pause=name == "pause")


def run(args: argparse.Namespace) -> int:
    import httpx

    body = {
        "reason": args.reason,
        "by": args.by or f"{getpass.getuser()}@{socket.gethostname()}",
    }
    if args.reflex:
        body["reflex"] = args.reflex
    url = f"{args.url.rstrip('/')}/api/v1/{'pause' if args.pause else 'resume'}"
    try:
        resp = httpx.post(url, json=body, headers=auth_headers(), timeout=10, trust_env=False)
    except httpx.HTTPError as exc:
        print(f"alertreflex: cannot reach {url}: {exc}", file=sys.stderr)
        return FAILED
    if resp.status_code != 200:
        print(f"alertreflex: {url}: HTTP {resp.status_code}: {api_error(resp)}", file=sys.stderr)
        return FAILED
    what = f"reflex {args.reflex}" if args.reflex else "alertreflex"
    if args.pause:
        done = "disabled" if args.reflex else "paused"
        print(f"{what} {done}: {args.reason}")
    else:
        was = resp.json().get("was")
        done = "enabled" if args.reflex else "resumed"
        print(f"{what} {done}" + ("" if was else " (it was not held)"))
    return OK
