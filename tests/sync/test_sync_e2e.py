"""`alertreflex sync` delivering to a real Prometheus and a real alertreflex: the
command once, `--watch` picking up a new commit, and the push hook POST /api/v1/sync."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alertreflex.demo.run import start_alertreflex
from alertreflex.demo.stack import Proc, Stack, free_port, wait_for
from tests.logs import events

from .conftest import Repo

BIN = Path(sys.executable).parent / "alertreflex"
TOKEN = "push-hook-s3cret"


class Deployment:
    """A Prometheus whose rule_files cover ``rules``, and an alertreflex whose config
    directory holds the operator's settings and the synced ``teams.yml``."""

    def __init__(self, stack: Stack, root: Path, settings: str = "") -> None:
        self.rules = root / "prometheus-rules"
        self.rules.mkdir(parents=True)
        self.config_dir = root / "alertreflex.d"
        self.config_dir.mkdir()
        self.reflexes = self.config_dir / "teams.yml"
        self.reflexes.write_text("reflexes: []\n")  # valid until the first sync
        (self.config_dir / "settings.yml").write_text(settings or "settings: {}\n")
        self.prometheus = stack.start_prometheus(
            rule_files=[self.rules / "*.rules.yml"], scrape_targets=[], alertmanager_url=None
        )
        self.alertreflex: Proc = start_alertreflex(stack, self.config_dir)

    def groups(self) -> dict[str, list[str]]:
        doc = httpx.get(f"{self.prometheus.url}/api/v1/rules", timeout=5).json()
        return {g["name"]: [r["name"] for r in g["rules"]] for g in doc["data"]["groups"]}

    def reflex_names(self) -> list[str]:
        doc = httpx.get(f"{self.alertreflex.url}/api/v1/reflexes", timeout=5).json()
        return sorted(r["name"] for r in doc["reflexes"])

    def sync_args(self, repo: Repo, cache: Path) -> list[str]:
        return [
            str(BIN),
            "sync",
            "--repo",
            str(repo.path),
            "--ref",
            "main",
            "--rules-dir",
            str(self.rules),
            "--reflexes-file",
            str(self.reflexes),
            "--prometheus-url",
            self.prometheus.url,
            "--alertreflex-url",
            self.alertreflex.url,
            "--cache-dir",
            str(cache),
        ]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path / "stack") as s:
        yield s


def test_sync_command_delivers_and_a_bad_commit_changes_nothing(
    stack: Stack, repo: Repo, tmp_path: Path
) -> None:
    dep = Deployment(stack, tmp_path)
    args = dep.sync_args(repo, tmp_path / "cache")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("DELIVERED: delivered ")
    assert "Prometheus serves the 3 rule groups" in done.stdout
    assert "alertreflex runs the 4 reflexes" in done.stdout
    groups = dep.groups()
    assert groups["warehouse-buckets"] == ["BucketTooFull_ORANGE", "warehouse:orange_bucket:max"]
    assert groups["legacy"] == ["BucketTooFull_GREEN", "warehouse:green_bucket:max"]
    assert groups["payments-api"] == ["PaymentsErrorRateHigh"]
    assert "warehouse-pizza" in dep.reflex_names()

    repo.write(
        "teams/payments/payments.reflexes.yml",
        "reflexes:\n  - name: payments-x\n    team: warehouse\n    match: ['alertname=\"A\"']\n",
    )
    bad = repo.commit("payments claims warehouse", author="Pat Payments <pat@example.com>")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"INVALID: commit {bad[:12]} is invalid" in done.stderr
    assert "teams/payments/payments.reflexes.yml:3: reflexes[0].team" in done.stderr
    assert dep.groups() == groups
    assert "payments-restart-stuck-worker" in dep.reflex_names()


def test_prometheus_that_does_not_load_the_rules_dir_fails_the_sync(
    stack: Stack, repo: Repo, tmp_path: Path
) -> None:
    dep = Deployment(stack, tmp_path)
    args = dep.sync_args(repo, tmp_path / "cache")
    other = tmp_path / "elsewhere"
    args[args.index("--rules-dir") + 1] = str(other)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert (
        "FAILED: Prometheus reloaded but does not serve payments.rules.yml: group "
        "'payments-api' (1 rules); warehouse.rules.yml: group 'warehouse-buckets'" in done.stderr
    )
    assert f"are {other}/*.rules.yml in its rule_files?" in done.stderr


def test_watch_picks_up_a_new_commit_and_serves_metrics(
    stack: Stack, repo: Repo, tmp_path: Path
) -> None:
    dep = Deployment(stack, tmp_path)
    port = free_port()
    args = [*dep.sync_args(repo, tmp_path / "cache"), "--watch", "200ms"]
    args += ["--metrics-listen", f"127.0.0.1:{port}"]
    watcher = stack.start("sync-watch", args, f"http://127.0.0.1:{port}/metrics")
    wait_for(lambda: "payments-api" in dep.groups(), 60, "the first delivery")
    repo.write(
        "teams/payments/latency.rules.yml",
        "groups:\n  - name: payments-latency\n    rules:\n"
        "      - alert: PaymentsSlow\n        expr: vector(1) > 2\n",
    )
    new = repo.commit("payments: latency", author="Pat Payments <pat@example.com>")
    wait_for(lambda: "payments-latency" in dep.groups(), 30, "the new commit's rules")
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "alertreflex_sync_last_run_successful 1.0" in metrics
    assert f'alertreflex_sync_revision_info{{delivered="{new}",failed=""}} 1.0' in metrics
    assert 'alertreflex_sync_runs_total{result="delivered"} 2.0' in metrics
    time.sleep(1)  # a few more ticks: nothing new to deliver
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'alertreflex_sync_runs_total{result="delivered"} 2.0' in metrics
    stack.stop(watcher)
    log = watcher.log_path.read_text()
    assert len(events(log, "sync_delivered")) == 2, log
    assert len(events(log, "sync_unchanged")) == 0, log


def test_push_hook_syncs_a_running_alertreflex(stack: Stack, repo: Repo, tmp_path: Path) -> None:
    token_file = tmp_path / "sync-token"
    token_file.write_text(TOKEN + "\n")
    rules = tmp_path / "prometheus-rules"
    settings = f"""settings:
  sync:
    repo: {repo.path}
    ref: main
    rules_dir: {rules}
    reflexes_file: {tmp_path / "alertreflex.d" / "teams.yml"}
    token_file: {token_file}
    cache_dir: {tmp_path / "cache"}
"""
    dep = Deployment(stack, tmp_path, settings)
    hook = f"{dep.alertreflex.url}/api/v1/sync"
    assert httpx.post(hook, timeout=5).status_code == 401
    bad_token = {"Authorization": "Bearer nope"}
    assert httpx.post(hook, headers=bad_token, timeout=5).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # As a git host calls it: answered at once, the sync runs behind.
    resp = httpx.post(hook, headers=auth, timeout=5)
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "accepted"
    wait_for(lambda: "warehouse-pizza" in dep.reflex_names(), 60, "the hook's sync")
    wait_for(
        lambda: (
            "alertreflex_sync_last_run_successful 1.0"
            in httpx.get(f"{dep.alertreflex.url}/metrics", timeout=5).text
        ),
        10,
        "the sync metrics",
    )
    # ?wait=1: the answer is the run's result.
    hook += "?wait=1"
    resp = httpx.post(f"{hook}&force=1", headers=auth, timeout=60)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["result"] == "delivered"
    assert doc["confirmations"] == ["alertreflex runs the 4 reflexes"]
    assert "warehouse-pizza" in dep.reflex_names()
    assert (rules / "warehouse.rules.yml").exists()
    resp = httpx.post(hook, headers=auth, timeout=60)
    assert resp.json()["result"] == "unchanged"

    repo.write(
        "teams/warehouse/broken.rules.yml",
        "groups:\n  - name: b\n    rules:\n      - alert: X\n        expr: 'up =='\n",
    )
    repo.commit("broken")
    resp = httpx.post(hook, headers=auth, timeout=60)
    assert resp.status_code == 422
    assert resp.json()["problems"][0].startswith(
        "team warehouse: teams/warehouse/broken.rules.yml:5:"
    )
    metrics = httpx.get(f"{dep.alertreflex.url}/metrics", timeout=5).text
    assert "alertreflex_sync_last_run_successful 0.0" in metrics
    assert "warehouse-pizza" in dep.reflex_names()  # the last good config still runs


def test_server_syncs_on_its_interval(stack: Stack, repo: Repo, tmp_path: Path) -> None:
    """settings.sync.interval: the running alertreflex fetches by itself and takes a
    new commit's reflexes; without a token_file the push hook is off."""
    settings = f"""settings:
  sync:
    repo: {repo.path}
    rules_dir: {tmp_path / "prometheus-rules"}
    reflexes_file: {tmp_path / "alertreflex.d" / "teams.yml"}
    interval: 300ms
    cache_dir: {tmp_path / "cache"}
"""
    dep = Deployment(stack, tmp_path, settings)
    wait_for(lambda: "warehouse-pizza" in dep.reflex_names(), 30, "the first sync")
    repo.write(
        "teams/payments/more.reflexes.yml",
        "reflexes:\n  - name: payments-page-less\n    match: ['alertname=\"X\"']\n"
        "    on_firing: [{exec: {command: ['true']}}]\n",
    )
    repo.commit("payments: one more", author="Pat Payments <pat@example.com>")
    wait_for(lambda: "payments-page-less" in dep.reflex_names(), 30, "the new commit")
    resp = httpx.post(f"{dep.alertreflex.url}/api/v1/sync", timeout=5)
    assert resp.status_code == 404
    assert "token_file" in resp.json()["error"]


def test_a_refused_delivery_puts_the_previous_files_back(
    stack: Stack, repo: Repo, tmp_path: Path
) -> None:
    """alertreflex does not load the reflexes file sync writes: the sync fails, and
    the files it wrote are taken back (here: there were none)."""
    dep = Deployment(stack, tmp_path)
    args = dep.sync_args(repo, tmp_path / "cache")
    elsewhere = tmp_path / "not-in-its-config" / "synced.yml"
    args[args.index("--reflexes-file") + 1] = str(elsewhere)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"FAILED: alertreflex reloaded but does not load {elsewhere}" in done.stderr
    assert "the previous files are back in place" in done.stderr
    assert not elsewhere.exists()
    assert list(dep.rules.iterdir()) == []
    assert "payments-api" not in dep.groups()  # Prometheus read the old (no) files again


def test_team_reflex_clashing_with_the_operators_is_refused(
    stack: Stack, repo: Repo, tmp_path: Path
) -> None:
    token_file = tmp_path / "sync-token"
    token_file.write_text(TOKEN)
    settings = f"""settings:
  sync:
    repo: {repo.path}
    rules_dir: {tmp_path / "prometheus-rules"}
    reflexes_file: {tmp_path / "alertreflex.d" / "teams.yml"}
    token_file: {token_file}
    cache_dir: {tmp_path / "cache"}
reflexes:
  - name: warehouse-pizza
    team: ops
    match: ['alertname="X"']
    on_firing: [{{exec: {{command: ["true"]}}}}]
"""
    dep = Deployment(stack, tmp_path, settings)
    resp = httpx.post(
        f"{dep.alertreflex.url}/api/v1/sync?wait=1",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert resp.status_code == 422, resp.text
    problems = resp.json()["problems"]
    assert any("duplicate reflex name 'warehouse-pizza'" in p for p in problems), problems
    assert dep.reflex_names() == ["warehouse-pizza"]  # the operator's, still running
