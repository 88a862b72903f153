"""``alertreflex serve``.

Every option can also be set by an environment variable (``ALERTREFLEX_CONFIG``,
...), as containers and orchestrators configure a program; an option given on the
command line wins, and an empty variable counts as unset.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, NoReturn

from alertreflex.cli._common import add_command
from alertreflex.defaults import DEFAULT_LISTEN, DEFAULT_STORAGE

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("logfmt", "json")

# Each option's variable, by the option's argparse dest.
ENV = {
    "config": "ALERTREFLEX_CONFIG",
    "listen": "ALERTREFLEX_LISTEN",
    "storage": "ALERTREFLEX_STORAGE",
    "log_level": "ALERTREFLEX_LOG_LEVEL",
    "log_format": "ALERTREFLEX_LOG_FORMAT",
    "replica": "ALERTREFLEX_REPLICA",
}
# What applies when neither the option nor its variable is given.
BUILTIN = {
    "listen": DEFAULT_LISTEN,
    "storage": DEFAULT_STORAGE,
    "log_level": "info",
    "log_format": "logfmt",
}


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "serve",
        "Receive Alertmanager webhooks and run the matching reflexes.",
        "alertreflex serve --config examples/alertreflex.yml --listen 127.0.0.1:8976\n"
        "  ALERTREFLEX_CONFIG=/etc/alertreflex ALERTREFLEX_LISTEN=0.0.0.0:8976 alertreflex serve",
    )
    p.epilog = (
        f"{p.epilog}\n\nEach option may be set by its environment variable instead (shown"
        " in brackets);\nan option on the command line wins, and an empty variable counts"
        " as unset."
    )
    # default=None everywhere: run() tells "not given" from "given", then looks at
    # the variable, and only then at the built-in default.
    p.add_argument(
        "--config",
        metavar="PATH",
        help=f"a YAML file, or a directory of *.yml/*.yaml files; required [{ENV['config']}]",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_LISTEN}) [{ENV['listen']}]",
    )
    p.add_argument(
        "--storage",
        metavar="URL",
        help=f"where runs are kept: sqlite:///PATH (default {DEFAULT_STORAGE}, relative to the"
        " working directory) or postgresql://USER@HOST/DB, shared by replicas"
        f" [{ENV['storage']}]",
    )
    p.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help=f"default info [{ENV['log_level']}]",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help=f"default logfmt [{ENV['log_format']}]",
    )
    p.add_argument(
        "--replica",
        metavar="NAME",
        help="this replica's name, the same across restarts: the replica label of"
        f" alertreflex_replica_info (default the host name) [{ENV['replica']}]",
    )
    p.set_defaults(func=lambda args: run(args, p))


def resolve(args: argparse.Namespace, fail: Callable[[str], NoReturn]) -> dict[str, str]:
    """Each option's value: the command line's, else its variable's, else the built-in
    default. A bad value in a variable is a usage error naming the variable (``fail``);
    one on the command line is left to argparse and to the server, which name the
    option."""
    values: dict[str, str] = {}
    from_env: set[str] = set()
    for dest, var in ENV.items():
        given: str | None = getattr(args, dest)
        if given is None and (env := os.environ.get(var, "")):
            given = env
            from_env.add(dest)
        if given is None and dest in BUILTIN:
            given = BUILTIN[dest]
        if given is not None:
            values[dest] = given
    if "config" not in values:
        fail(f"a configuration is required: --config PATH, or {ENV['config']}=PATH")
    for dest, choices in (("log_level", LOG_LEVELS), ("log_format", LOG_FORMATS)):
        if dest in from_env and values[dest] not in choices:
            fail(f"{ENV[dest]}={values[dest]!r}: expected one of {', '.join(choices)}")
    if "listen" in from_env:
        problem = _listen_problem(values["listen"])
        if problem is not None:
            fail(f"{ENV['listen']}={values['listen']!r}: {problem}")
    if "storage" in from_env:
        problem = _storage_problem(values["storage"])
        if problem is not None:
            fail(f"{ENV['storage']}={values['storage']!r}: {problem}")
    if "replica" in from_env:
        from alertreflex.store.urls import replica_name_problem

        problem = replica_name_problem(values["replica"])
        if problem is not None:
            fail(f"{ENV['replica']}={values['replica']!r}: {problem}")
    return values


def _listen_problem(listen: str) -> str | None:
    from alertreflex.web.server import UsageError, parse_listen

    try:
        parse_listen(listen)
    except UsageError as exc:
        # The server's own check, whose message names --listen: keep only the reason.
        return str(exc).removeprefix(f"--listen {listen}: ")
    return None


def _storage_problem(url: str) -> str | None:
    from alertreflex.store.urls import StorageURLError, open_store

    try:
        open_store(url)  # only reads the URL: nothing is opened before Store.open()
    except StorageURLError as exc:
        return str(exc).removeprefix(f"--storage {url}: ")
    return None


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    values = resolve(args, parser.error)
    from alertreflex.logs import configure_logging
    from alertreflex.web.server import serve

    configure_logging(values["log_level"], "json" if values["log_format"] == "json" else "logfmt")
    return serve(values["config"], values["storage"], values["listen"], values.get("replica"))
