"""Every option and argument of every command says what it is for in --help."""

from __future__ import annotations

import argparse

from alertreflex.cli import runs
from alertreflex.cli.main import build_parser
from alertreflex.core.models import RunState, Trigger


def _commands() -> dict[str, argparse.ArgumentParser]:
    return {
        name: parser
        for action in build_parser()._actions  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction)
        for name, parser in action.choices.items()
    }


def test_every_option_has_help_text() -> None:
    """No option or positional argument of any command is left without help (the CLI
    reference page is this help: docs/reference/cli.md)."""
    missing = [
        f"alertreflex {name} {'/'.join(action.option_strings) or action.dest}"
        for name, parser in _commands().items()
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        and (action.help is None or not action.help.strip())
    ]
    assert missing == []


def test_runs_offers_the_states_and_triggers_the_api_knows() -> None:
    """runs --state and --trigger check their values before asking the server (a
    typo is a usage error): their choices are exactly the runs API's."""
    assert tuple(RunState) == runs.STATES
    assert tuple(Trigger) == runs.TRIGGERS
