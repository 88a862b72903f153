"""``alertreflex serve``."""

from __future__ import annotations

import argparse
from typing import Any

from alertreflex.cli._common import add_command
from alertreflex.defaults import DEFAULT_LISTEN, DEFAULT_STORAGE


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "serve",
        "Receive Alertmanager webhooks and run the matching reflexes.",
        "alertreflex serve --config examples/alertreflex.yml --listen 127.0.0.1:8976",
    )
    p.add_argument(
        "--config",
        required=True,
        metavar="PATH",
        help="a YAML file, or a directory of *.yml/*.yaml files",
    )
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_LISTEN})",
    )
    p.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        metavar="URL",
        help=f"where runs are kept: sqlite:///PATH (default {DEFAULT_STORAGE}, relative to the"
        " working directory) or postgresql://USER@HOST/DB, shared by replicas",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default="logfmt", choices=["logfmt", "json"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.logs import configure_logging
    from alertreflex.web.server import serve

    configure_logging(args.log_level, args.log_format)
    return serve(args.config, args.storage, args.listen)
