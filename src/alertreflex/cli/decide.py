"""``alertreflex approve|reject|rerun RUN_ID``: an operator's decisions about runs."""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from typing import Any
from urllib.parse import quote

from alertreflex.cli._common import (
    FAILED,
    OK,
    TOKEN_ENV,
    add_command,
    api_error,
    auth_headers,
)
from alertreflex.defaults import DEFAULT_LISTEN

_COMMANDS = (
    (
        "approve",
        "Approve a run awaiting approval (reflexes with approval: required); it runs at "
        "once. See what it will do first with 'alertreflex runs --show RUN_ID'.",
        'alertreflex approve 01J9Z3K6Q4 --reason "checked the dump target"',
        False,
    ),
    (
        "reject",
        "Reject a run awaiting approval: it never runs.",
        'alertreflex reject 01J9Z3K6Q4 --reason "the service is being migrated"',
        True,
    ),
    (
        "rerun",
        "Run a finished run again: a new manual run, linked to the old one, "
        "that skips cooldown, delay and approval (an operator asked for it).",
        'alertreflex rerun 01J9Z3K6Q4 --reason "the first dump was truncated"',
        True,
    ),
)


def register(sub: Any) -> None:
    for name, help_text, example, reason_required in _COMMANDS:
        p = add_command(sub, name, help_text, example)
        p.add_argument(
            "run_id",
            metavar="RUN_ID",
            help="the run's id, or any unique prefix of it (as with git)",
        )
        p.add_argument("--reason", required=reason_required, help="why: recorded with who and when")
        p.add_argument(
            "--url",
            default=f"http://{DEFAULT_LISTEN}",
            help=f"alertreflex base URL (default http://{DEFAULT_LISTEN})",
        )
        p.add_argument(
            "--by",
            help=f"who is acting (default: USER@HOST; with auth, the ${TOKEN_ENV} user)",
        )
        p.set_defaults(func=run, verb=name)


def run(args: argparse.Namespace) -> int:
    import httpx

    body = {
        "reason": args.reason or "",
        "by": args.by or f"{getpass.getuser()}@{socket.gethostname()}",
    }
    url = f"{args.url.rstrip('/')}/api/v1/runs/{quote(args.run_id, safe='')}/{args.verb}"
    try:
        resp = httpx.post(url, json=body, headers=auth_headers(), timeout=10, trust_env=False)
    except httpx.HTTPError as exc:
        print(f"alertreflex: cannot reach {url}: {exc}", file=sys.stderr)
        return FAILED
    if resp.status_code != 200:
        print(f"alertreflex: {url}: HTTP {resp.status_code}: {api_error(resp)}", file=sys.stderr)
        return FAILED
    run_doc = resp.json()["run"]
    if args.verb == "rerun":
        print(f"run {run_doc['id']} queued: a manual re-run of {run_doc['rerun_of']}")
    else:
        print(f"run {run_doc['id']} {run_doc['state']}")
    return OK
