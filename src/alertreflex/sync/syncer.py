"""One sync run: fetch, and if the revision is new, check, write, reload, verify.

Blocking (git, promtool and HTTP); the server runs it in a thread. A lock keeps two
runs (a ``--watch`` tick and a push hook) from interleaving their writes.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from alertreflex.sync.build import Bundle, build
from alertreflex.sync.deliver import DeliveryError, write
from alertreflex.sync.metrics import SyncMetrics
from alertreflex.sync.problems import InvalidRevision
from alertreflex.sync.promtool import PromtoolError
from alertreflex.sync.source import Source, SourceError
from alertreflex.sync.targets import Target, TargetError

log = structlog.get_logger("alertreflex.sync")


@dataclass
class SyncResult:
    result: str  # delivered | unchanged | invalid | failed; valid for check()
    revision: str | None
    message: str
    problems: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    confirmations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tests_passed: int = 0

    @property
    def ok(self) -> bool:
        return self.result in ("delivered", "unchanged", "valid")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Syncer:
    def __init__(
        self,
        source: Source,
        rules_dir: Path,
        reflexes_file: Path,
        targets: Sequence[Target],
        *,
        label: str = "team",
        promtool: str | None = None,
        run_tests: bool = True,
        metrics: SyncMetrics | None = None,
        operator_files: Callable[[], list[str]] | None = None,
    ) -> None:
        self.source = source
        self.rules_dir = Path(rules_dir)
        self.reflexes_file = Path(reflexes_file)
        self.targets = list(targets)
        self.label = label
        self.promtool = promtool
        self.run_tests = run_tests
        self.metrics = metrics
        self.operator_files = operator_files or list
        self.delivered = ""  # the revision every target confirmed
        self._invalid: SyncResult | None = None  # the last invalid revision's result
        self._last: SyncResult | None = None
        self._lock = threading.Lock()

    def run_once(self, *, force: bool = False) -> SyncResult:
        """One run; ``force`` acts even when the revision was delivered already."""
        with self._lock:
            result = self._run(force)
            repeated = result is self._last  # an invalid commit seen before: said already
            self._last = result
        failed = "" if result.ok else (result.revision or "")
        if self.metrics is not None:
            self.metrics.record(result.result, time.time(), self.delivered, failed)
        if result.result != "unchanged" and not repeated:
            log.log(
                20 if result.ok else 40,
                "sync_" + result.result,
                revision=result.revision,
                message=result.message,
                problems=result.problems or None,
                changed=result.changed or None,
                confirmations=result.confirmations or None,
                warnings=result.warnings or None,
            )
        return result

    def check(self) -> SyncResult:
        """Fetch and check the current revision; write and reload nothing (a team's
        pull request pipeline runs this)."""
        try:
            revision = self.source.fetch()
        except SourceError as exc:
            return SyncResult("failed", None, str(exc))
        bundle = self._build(revision)
        if isinstance(bundle, SyncResult):
            if bundle.result == "invalid":
                bundle.message = f"commit {revision[:12]} is invalid"
            return bundle
        return SyncResult(
            "valid",
            revision,
            f"commit {revision[:12]} is valid: rules of {len(bundle.rules)} teams, "
            f"{len(bundle.reflex_names)} reflexes, {bundle.tests_passed} reflex tests passed",
            warnings=bundle.warnings,
            tests_passed=bundle.tests_passed,
        )

    def _build(self, revision: str) -> Bundle | SyncResult:
        try:
            snapshot = self.source.read(revision)
            with tempfile.TemporaryDirectory(prefix="alertreflex-sync-") as work:
                return build(
                    snapshot,
                    Path(work),
                    label=self.label,
                    promtool=self.promtool,
                    run_tests=self.run_tests,
                    operator_files=self.operator_files(),
                )
        except InvalidRevision as exc:
            return SyncResult(
                "invalid",
                revision,
                f"commit {revision[:12]} is invalid: nothing delivered, the last good "
                f"revision ({self.delivered[:12] or 'none this run'}) stays",
                problems=[str(p) for p in exc.problems],
            )
        except (SourceError, PromtoolError, OSError) as exc:
            return SyncResult("failed", revision, f"cannot check {revision[:12]}: {exc}")

    def _run(self, force: bool) -> SyncResult:
        try:
            revision = self.source.fetch()
        except SourceError as exc:
            return SyncResult("failed", None, str(exc))
        if not force and revision == self.delivered:
            return SyncResult("unchanged", revision, f"{revision[:12]} is delivered already")
        if not force and self._invalid is not None and self._invalid.revision == revision:
            return self._invalid  # the same bad commit: nothing new to say or try
        bundle = self._build(revision)
        if isinstance(bundle, SyncResult):
            if bundle.result == "invalid":
                self._invalid = bundle
            return bundle
        try:
            written = write(bundle, self.rules_dir, self.reflexes_file)
        except (OSError, DeliveryError) as exc:
            return SyncResult("failed", revision, f"cannot write the files: {exc}")
        changed = written.changed
        confirmations: list[str] = []
        for n, target in enumerate(self.targets):
            try:
                confirmations.append(target.reload(bundle))
            except TargetError as exc:
                # Put the last good files back, so that a restart of Prometheus or
                # alertreflex does not meet files they refused, and have the targets
                # that took the new ones read the old ones again. Not marked
                # delivered: the next run tries again.
                written.rollback()
                for done in self.targets[: n + 1]:
                    done.revert()
                return SyncResult(
                    "failed",
                    revision,
                    f"{exc}; the previous files are back in place",
                    changed=changed,
                    confirmations=confirmations,
                    warnings=bundle.warnings,
                    tests_passed=bundle.tests_passed,
                )
        self.delivered = revision
        self._invalid = None
        return SyncResult(
            "delivered",
            revision,
            f"delivered {revision[:12]}: rules of {len(bundle.rules)} teams, "
            f"{len(bundle.reflex_names)} reflexes, {bundle.tests_passed} reflex tests passed",
            changed=changed,
            confirmations=confirmations,
            warnings=bundle.warnings,
            tests_passed=bundle.tests_passed,
        )

    def watch(self, interval: float, stop: threading.Event) -> None:
        """Run every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.run_once()
            stop.wait(interval)
