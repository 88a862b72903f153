"""Alert history as episodes: when each alert fired and when it resolved.

From Prometheus, the raw samples of the ``ALERTS{alertstate="firing"}`` series over a
range, read with instant queries of a range selector (``ALERTS{...}[6h]`` at the end
of each 6 hours): the samples' own times, one per rule evaluation while the alert
fired, with no query step and no look-back (which keeps a series visible for
minutes after its last sample). A range query of ``timestamp(...)`` would say the
same, but costs Prometheus 2.42 time quadratic in its steps (90 s for a week of
1,000 series here, against ~1 s this way). Samples closer together than twice their
usual spacing (the evaluation interval) belong to one episode; a longer silence ends
it. The labels are those Alertmanager receives: the series' own without ``__name__``
and ``alertstate``, plus Prometheus's external labels when asked.

From alertreflex's own store, the notifications it received (``export-notifications``).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from alertreflex.core.fingerprint import fingerprint

SELECTOR = 'ALERTS{alertstate="firing"}'
CHUNK = 6 * 3600.0  # seconds of raw samples per query: at most 1,440 per series at 15s
DEFAULT_INTERVAL = 60.0  # the evaluation interval, when no series has two samples


class HistoryError(Exception):
    """The history cannot be read; the message says what and where."""


@dataclass(frozen=True)
class Episode:
    labels: Mapping[str, str]
    fingerprint: str
    start: float  # first seen firing
    end: float | None  # resolved (as Alertmanager would hear of it); None: still firing
    begun_before: bool = False  # already firing when the range began: its firing ran before


def episodes_from_samples(
    samples: Mapping[tuple[tuple[str, str], ...], Iterable[float]],
    *,
    start: float,
    end: float,
    interval: float | None = None,
) -> list[Episode]:
    """Cut each series' sample times into episodes (see the module). ``interval``:
    the rule evaluation interval; by default each series' own smallest spacing (rule
    groups evaluate at different intervals), or for a series of lone samples the
    smallest spacing of all."""
    ordered = {key: sorted(set(times)) for key, times in samples.items()}
    own = {key: _spacing(times) for key, times in ordered.items()}
    common = min((x for x in own.values() if x != math.inf), default=DEFAULT_INTERVAL)
    out = []
    for key, times in ordered.items():
        spacing = interval or (own[key] if own[key] != math.inf else common)
        gap = 2 * spacing
        # Already firing when the range began: sampled within an interval of its start.
        slack = 1.5 * spacing
        labels = dict(key)
        fp = fingerprint(labels)
        first = prev = times[0]
        for t in times[1:]:
            if t - prev > gap:
                out.append(Episode(labels, fp, first, prev + spacing, first - start <= slack))
                first = t
            prev = t
        ends = None if prev >= end - gap else prev + spacing
        out.append(Episode(labels, fp, first, ends, first - start <= slack))
    out.sort(key=lambda e: (e.start, e.fingerprint))
    return out


def _spacing(ordered: list[float]) -> float:
    """The smallest time between two samples of a series (its rule group's evaluation
    interval: a missed evaluation only widens one gap); inf for a lone sample."""
    return min((b - a for a, b in itertools.pairwise(ordered)), default=math.inf)


class Prometheus:
    """Reads ``ALERTS`` history from a Prometheus's HTTP API."""

    def __init__(self, url: str, *, timeout: float = 60.0, client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        where = f"{self.url}{path}"
        try:
            resp = self._client.get(where, params=params)
        except httpx.TimeoutException:
            raise HistoryError(
                f"Prometheus at {self.url} did not answer {params.get('query', path)!r} within"
                f" {self._client.timeout.read}s (overloaded, or too much history at once?)"
            ) from None
        except httpx.HTTPError as exc:
            raise HistoryError(f"cannot reach Prometheus at {self.url}: {exc}") from None
        try:
            doc = resp.json()
        except ValueError:
            raise HistoryError(
                f"{where} answered {resp.status_code} with no Prometheus API response"
                f" (is {self.url} a Prometheus?): {resp.text[:200]!r}"
            ) from None
        if resp.status_code != 200 or not isinstance(doc, dict) or doc.get("status") != "success":
            error = doc.get("error", resp.text[:200]) if isinstance(doc, dict) else resp.text[:200]
            raise HistoryError(f"Prometheus at {self.url} answered {resp.status_code}: {error}")
        return doc.get("data")

    def external_labels(self) -> dict[str, str]:
        """The external labels of the Prometheus's configuration."""
        import yaml  # only for this

        data = self._get("/api/v1/status/config", {})
        try:
            config = yaml.safe_load(data["yaml"]) or {}
        except (KeyError, TypeError, yaml.YAMLError) as exc:
            raise HistoryError(f"cannot read the configuration of {self.url}: {exc}") from None
        labels = (config.get("global") or {}).get("external_labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def episodes(
        self,
        start: float,
        end: float,
        *,
        interval: float | None = None,
        external_labels: Mapping[str, str] | None = None,
    ) -> list[Episode]:
        """The episodes of every alert that fired between ``start`` and ``end``."""
        if end <= start:
            raise HistoryError("the range is empty: its end is not after its start")
        samples: dict[tuple[tuple[str, str], ...], list[float]] = defaultdict(list)
        t = start
        while t < end:
            upto = min(end, t + CHUNK)
            # (t, upto]: the selector's window ends at the query's time.
            window = f"{max(1, round((upto - t) * 1000))}ms"
            data = self._get("/api/v1/query", {"query": f"{SELECTOR}[{window}]", "time": upto})
            for series in _matrix(data, self.url):
                labels = _alert_labels(series, self.url)
                if external_labels:
                    labels = {**external_labels, **labels}  # the alert's own win, as in Prometheus
                key = tuple(sorted(labels.items()))
                samples[key].extend(_sample_times(series, self.url))
            t = upto
        if not samples:
            raise HistoryError(
                f"no firing alerts in {self.url} between {_iso(start)} and {_iso(end)}"
                f' (no ALERTS{{alertstate="firing"}} series): wrong range, or a Prometheus'
                " that evaluates no alerting rules?"
            )
        return episodes_from_samples(samples, start=start, end=end, interval=interval)


def _matrix(data: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise HistoryError(
            f"Prometheus at {url} answered a range selector's query without a matrix"
        )
    result = data.get("result") or []
    if not isinstance(result, list):
        raise HistoryError(f"Prometheus at {url} answered a malformed matrix")
    return result


def _alert_labels(series: Mapping[str, Any], url: str) -> dict[str, str]:
    metric = series.get("metric")
    if not isinstance(metric, dict):
        raise HistoryError(f"a series from {url} has no labels: {series!r:.200}")
    labels = {str(k): str(v) for k, v in metric.items() if k not in ("__name__", "alertstate")}
    if not labels.get("alertname"):
        shown = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        raise HistoryError(
            f"malformed ALERTS series in {url}: {{{shown}}} has no alertname label"
            " (ALERTS written by something other than Prometheus's rule evaluation?)"
        )
    return labels


def _sample_times(series: Mapping[str, Any], url: str) -> list[float]:
    times = []
    for point in series.get("values") or []:
        try:
            times.append(float(point[0]))
        except (TypeError, ValueError, IndexError):
            labels = series.get("metric")
            raise HistoryError(
                f"malformed point {point!r} in a series from {url}: {labels}"
            ) from None
    return times


REPEAT_AFTER = 3600.0  # a first notification this long after startsAt is a repeat


def _repeated_from_before(began: float, lo: float, received: float) -> bool:
    """Whether the first notification of an episode in the range repeats one sent
    before it: the alert started before the range, and long before this notification
    (more than Alertmanager's group_wait and a rule's ``for`` take, less than its
    repeat_interval)."""
    return began < lo and received - began > REPEAT_AFTER


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def episodes_from_notifications(
    lines: Iterable[str], source: str, *, start: float | None = None, end: float | None = None
) -> tuple[list[Episode], float, float]:
    """Episodes from webhook notifications as ``export-notifications`` writes them
    (one ``{"received_at": ..., "body": ...}`` per line), and the range they cover
    (``start``/``end`` when given, else from the first to just after the last). An
    episode (fingerprint, startsAt) starts at its first firing notification and ends
    at its first resolved one: what alertreflex itself received, grouping delays
    included. Raises HistoryError naming the line of a malformed entry."""
    import json

    from pydantic import ValidationError

    from alertreflex.core.models import NOTIFICATION_ADAPTER
    from alertreflex.core.paths import format_path

    received: list[tuple[float, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            at = float(doc["received_at"])
            n = NOTIFICATION_ADAPTER.validate_python(doc["body"], strict=False)
        except (ValueError, TypeError, KeyError) as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                why = (
                    f"not an Alertmanager notification: {format_path(first['loc'])}: {first['msg']}"
                )
            else:
                why = f'not an exported notification ({{"received_at": ..., "body": ...}}): {exc}'
            raise HistoryError(f"{source}:{number}: {why}") from None
        if (start is None or at >= start) and (end is None or at <= end):
            received.append((at, n))
    if not received:
        raise HistoryError(f"{source}: no notification in the range")
    received.sort(key=lambda x: x[0])
    lo = start if start is not None else received[0][0]
    hi = end if end is not None else received[-1][0] + 1.0
    firing: dict[tuple[str, str], tuple[dict[str, str], float]] = {}
    ended: set[tuple[str, str]] = set()  # Alertmanager repeats resolutions too
    out: list[Episode] = []
    for at, n in received:
        for a in n.alerts:
            key = (a.fingerprint, a.starts_at)
            if key in ended:
                continue
            if a.status == "firing":
                if key not in firing and _repeated_from_before(a.startsAt.timestamp(), lo, at):
                    # A repeat (repeat_interval) of an alert that fired before the range:
                    # its firing runs were made then; its resolution still counts.
                    firing[key] = (dict(a.labels), -math.inf)
                firing.setdefault(key, (dict(a.labels), at))
                continue
            ended.add(key)
            if key in firing:
                labels, began = firing.pop(key)
                before = began == -math.inf
                out.append(Episode(labels, a.fingerprint, lo if before else began, at, before))
            else:  # fired before the range (or before the export): only its resolution
                out.append(Episode(dict(a.labels), a.fingerprint, lo, at, begun_before=True))
    out.extend(
        Episode(labels, key[0], lo if began == -math.inf else began, None, began == -math.inf)
        for key, (labels, began) in firing.items()
    )
    out.sort(key=lambda e: (e.start, e.fingerprint))
    return out, lo, hi
