"""settings.retention through the engine: batches until done, metrics, 0 keeps all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import ConfigError, load_config
from alertreflex.engine import engine as engine_module
from alertreflex.engine.engine import Engine
from alertreflex.store.sqlite import SQLiteStore
from tests.store.test_store_retention import DAY, _finished


def _engine(tmp_path: Path, settings: str) -> Engine:
    (tmp_path / "c.yml").write_text(f"settings:\n{settings}reflexes: []\n")
    types = load_action_types()
    cfg = load_config(tmp_path / "c.yml", params_models(types))
    return Engine(cfg, SQLiteStore(tmp_path / "s.db"), {})


async def test_prune_runs_batches_until_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PRUNE_BATCH", 3)
    engine = _engine(tmp_path, "  retention: 7d\n")
    await engine.store.open()
    now = time.time()
    for i in range(8):
        await _finished(engine.store, f"f{i}", now - 8 * DAY)
    kept = await _finished(engine.store, "new", now - 6 * DAY)
    total = await engine.prune(now)
    assert (total.runs, total.notifications, total.episodes) == (8, 8, 8)
    assert [r.id for r in await engine.store.list_runs()] == [kept]
    sample = engine.metrics.registry.get_sample_value("alertreflex_pruned_total", {"what": "runs"})
    assert sample == 8
    await engine.store.close()


async def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "  retention: 0s\n")
    await engine.store.open()
    await _finished(engine.store, "f", time.time() - 1000 * DAY)
    assert (await engine.prune(time.time())).total == 0
    assert len(await engine.store.list_runs()) == 1
    await engine.store.close()


def test_a_negative_retention_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="retention"):
        _engine(tmp_path, "  retention: -1d\n")
