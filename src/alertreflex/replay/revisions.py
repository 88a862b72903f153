"""The reflexes of an ownership repository at one revision, as ``sync`` would deliver
them, loaded beside the operator's own config: what ``replay --before/--after``
compares."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import Config, ConfigError, load_config
from alertreflex.sync.build import build
from alertreflex.sync.problems import InvalidRevision
from alertreflex.sync.source import GitSource, SourceError


class RevisionError(Exception):
    """A revision that cannot be replayed; the message says which and why."""


def config_at(
    repo: str,
    ref: str,
    cache_dir: Path,
    *,
    operator_config: str | None = None,
    label: str = "team",
) -> tuple[str, Config]:
    """(the commit ``ref`` names, the config alertreflex would run after syncing it).
    With ``operator_config``, its ownership label is the one that counts."""
    if operator_config:
        try:
            own = load_config(
                operator_config, params_models(load_action_types()), read_secrets=False
            )
        except ConfigError as exc:
            raise RevisionError(f"invalid config {operator_config}:\n{exc}") from None
        label = own.settings.ownership_label
    try:
        source = GitSource(repo, ref, cache_dir)
        commit = source.fetch()
        snapshot = source.read(commit)
    except SourceError as exc:
        raise RevisionError(f"{ref}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="alertreflex-replay-") as work:
        try:
            # No promtool and no reflex tests: the question is what the reflexes would
            # do, not whether the commit passes its checks (sync --check says that).
            bundle = build(
                snapshot,
                Path(work) / "checkout",
                label=label,
                run_tests=False,
                operator_files=[operator_config] if operator_config else [],
            )
        except InvalidRevision as exc:
            raise RevisionError(f"{ref}: {exc}") from None
        teams = Path(work) / "teams.yml"
        teams.write_text(bundle.reflexes)
        files = [operator_config, str(teams)] if operator_config else [str(teams)]
        try:
            cfg = load_config(files, params_models(load_action_types()), read_secrets=False)
        except ConfigError as exc:
            raise RevisionError(f"{ref} ({commit[:12]}) does not load:\n{exc}") from None
    if not operator_config:
        settings = cfg.settings.model_copy(update={"ownership_label": label})
        cfg = replace(cfg, settings=settings)
    return commit, cfg
