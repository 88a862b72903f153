"""Asking the consumers to reload, and checking that they took the new files.

A 200 from ``/-/reload`` is not enough: a Prometheus whose ``rule_files`` do not
cover the rules directory reloads happily and serves none of the new groups, and an
alertreflex started with another ``--config`` ignores the reflexes file. So each
target verifies what it serves afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from alertreflex.sync.build import Bundle
from alertreflex.sync.deliver import rule_file


class TargetError(RuntimeError):
    """A target did not reload, or does not serve what was written."""


class Target(Protocol):
    name: str

    def reload(self, bundle: Bundle) -> str:
        """Reload and verify; return a one-line confirmation or raise TargetError."""
        ...

    def revert(self) -> None:
        """Reload again after the files were put back; best effort, nothing verified."""
        ...


if TYPE_CHECKING:
    import httpx


def _client() -> httpx.Client:
    # Imported here: a server that never syncs is spared httpx's RSS.
    import httpx

    return httpx.Client(timeout=30.0, trust_env=False, follow_redirects=False)


def _post_reload(client: httpx.Client, base: str, what: str, hint: str) -> httpx.Response:
    import httpx

    url = f"{base.rstrip('/')}/-/reload"
    try:
        resp = client.post(url)
    except httpx.HTTPError as exc:
        raise TargetError(f"{what}: POST {url} failed: {exc}") from exc
    if resp.status_code in (403, 404, 405):
        raise TargetError(f"{what}: POST {url} answered {resp.status_code}: {hint}")
    if resp.status_code != 200:
        raise TargetError(
            f"{what} refused the reload (HTTP {resp.status_code}): {resp.text.strip()[:2000]}"
        )
    return resp


@dataclass
class PrometheusTarget:
    url: str
    rules_dir: Path
    name: str = "Prometheus"

    def reload(self, bundle: Bundle) -> str:
        import httpx

        with _client() as client:
            _post_reload(client, self.url, "Prometheus", "start it with --web.enable-lifecycle")
            try:
                resp = client.get(f"{self.url.rstrip('/')}/api/v1/rules")
                resp.raise_for_status()
                served = resp.json()["data"]["groups"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                raise TargetError(f"Prometheus: cannot read /api/v1/rules: {exc}") from exc
        return self._verify(bundle, served)

    def revert(self) -> None:
        with _client() as client, contextlib.suppress(TargetError):
            _post_reload(client, self.url, "Prometheus", "")

    def _verify(self, bundle: Bundle, served: list[dict[str, Any]]) -> str:
        # Prometheus names a group's file as its rule_files glob found it, which may be
        # another path to the same directory (a container's mount): match by file name.
        have = {(Path(g["file"]).name, g["name"]): len(g.get("rules") or ()) for g in served}
        missing = []
        total = 0
        for team, groups in bundle.groups.items():
            fname = rule_file(self.rules_dir, team).name
            for group, count in groups.items():
                total += 1
                if have.get((fname, group)) != count:
                    missing.append(f"{fname}: group {group!r} ({count} rules)")
        if missing:
            raise TargetError(
                "Prometheus reloaded but does not serve "
                + "; ".join(missing[:10])
                + f" (are {self.rules_dir}/*.rules.yml in its rule_files?)"
            )
        return f"Prometheus serves the {total} rule groups"


@dataclass
class AlertreflexTarget:
    """A running alertreflex, over HTTP."""

    url: str
    reflexes_file: Path
    token: str | None = None
    name: str = "alertreflex"

    def reload(self, bundle: Bundle) -> str:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with _client() as client:
            client.headers.update(headers)
            resp = _post_reload(client, self.url, "alertreflex", "is this alertreflex?")
            try:
                doc = resp.json()
            except ValueError as exc:
                raise TargetError(f"alertreflex: unexpected reload answer: {exc}") from exc
        return verify_config(doc.get("config"), bundle, self.reflexes_file)

    def revert(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with _client() as client, contextlib.suppress(TargetError):
            client.headers.update(headers)
            _post_reload(client, self.url, "alertreflex", "")


@dataclass
class LocalAlertreflexTarget:
    """The alertreflex this sync runs in: ``reload`` is its own reload function."""

    reload_config: Callable[[], str | None]
    status: Callable[[], dict[str, Any]]
    reflexes_file: Path
    name: str = "alertreflex"

    def reload(self, bundle: Bundle) -> str:
        problem = self.reload_config()
        if problem is not None:
            raise TargetError(f"alertreflex refused the reload: {problem}")
        return verify_config(self.status().get("config"), bundle, self.reflexes_file)

    def revert(self) -> None:
        self.reload_config()


def verify_config(config: Any, bundle: Bundle, reflexes_file: Path) -> str:
    want = hashlib.sha256(bundle.reflexes.encode("utf-8")).hexdigest()
    files = (config or {}).get("files") or []
    if any(f.get("sha256") == want for f in files):
        return f"alertreflex runs the {len(bundle.reflex_names)} reflexes"
    if any(Path(f.get("path", "")).name == reflexes_file.name for f in files):
        raise TargetError(
            f"alertreflex reloaded but its {reflexes_file.name} is not the one just written"
        )
    raise TargetError(
        f"alertreflex reloaded but does not load {reflexes_file}: "
        "give it that file (or its directory) in --config"
    )
