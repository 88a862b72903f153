"""``alertreflex schema``: print the config's JSON Schema, for YAML editors."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from alertreflex.cli._common import FAILED, OK, add_command

EXAMPLE = """alertreflex schema --output alertreflex.schema.json

  then name it in the first line of a config file, for VS Code's YAML extension
  and other editors that use yaml-language-server:
    # yaml-language-server: $schema=./alertreflex.schema.json
  or map it to your files in the editor's settings (JetBrains: Settings >
  Languages & Frameworks > Schemas and DTDs > JSON Schema Mappings).

  In a teams' repository for alertreflex sync:
    alertreflex schema --team-file --output alertreflex-team.schema.json"""


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "schema",
        "Print the JSON Schema (draft 2020-12) of alertreflex's config files, so that "
        "YAML editors validate and complete them. Steps are described for every action "
        "type installed, plugins included; alertreflex check still validates what a "
        "schema cannot (matchers, templates, names across files).",
        EXAMPLE,
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the schema to FILE instead of standard output",
    )
    p.add_argument(
        "--team-file",
        action="store_true",
        help="the schema of a team's file for alertreflex sync: no settings, and a "
        "reflex's team may be left out",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.actions.base import load_action_types, params_models
    from alertreflex.config.jsonschema import config_json_schema

    try:
        types = load_action_types()
    except Exception as exc:  # a broken plugin: say which, do not print a traceback
        print(f"alertreflex: cannot load the action types: {exc}", file=sys.stderr)
        return FAILED
    schema = config_json_schema(params_models(types), team_file=args.team_file)
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return OK
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"alertreflex: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return FAILED
    print(f"wrote {args.output} (action types: {', '.join(sorted(types))})", file=sys.stderr)
    return OK
