"""The web UI: server-rendered pages at ``/`` that need no JavaScript and no build
step. Forms post to ``/ui/...`` with a CSRF token and answer with a redirect back
(post/redirect/get), so a reload never repeats an action.

Everything shown comes from alerts or actions and is untrusted: Jinja2 escapes it,
links are only made of http(s) URLs, and the pages forbid inline scripts (CSP).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections import defaultdict
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import jinja2
import markupsafe
from aiohttp import web

from alertreflex import __version__
from alertreflex.actions.shown import set_params
from alertreflex.config.loader import Reflex
from alertreflex.core.durations import format_duration
from alertreflex.engine.engine import Engine, NotFound, Refused
from alertreflex.store.base import GLOBAL, RunRecord, StoreError
from alertreflex.web.access import check_csrf, csrf_token, identity

RECENT_RUNS = 50
LISTED_RUNS = 100  # on /ui/runs, newest first
# What /ui/runs filters on: list_runs's own filters, taken from the query string.
RUN_FILTERS = ("fingerprint", "reflex", "state", "trigger")
_STATIC = {"style.css": "text/css", "ui.js": "text/javascript"}
_HEADERS = {
    # Scripts and styles only from files of this origin: a value that slipped past
    # escaping still could not run.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Each state's mark, so that states read without colour too.
MARKS = {
    "succeeded": "✓",
    "failed": "✗",
    "timed_out": "◷",
    "running": "▶",
    "queued": "…",
    "skipped": "↷",
    "interrupted": "↯",
    "awaiting_approval": "?",
    "rejected": "⊘",
    "expired": "⌛",
    "cancelled": "■",
}


def _ts(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: float | None) -> str:
    if value is None:
        return ""
    delta = time.time() - value
    if delta < 0:
        return f"in {format_duration(round(-delta))}"
    return f"{format_duration(round(delta))} ago" if delta >= 1 else "just now"


def _instant(value: str | None) -> float | None:
    """An alert's RFC 3339 startsAt/endsAt; None for Alertmanager's zero time (unset)."""
    if not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _since(value: str) -> str:
    """An alert's RFC 3339 time as "… ago" (or as received when it does not parse)."""
    at = _instant(value)
    return value if at is None else _ago(at)


def _alert_time(value: str | None) -> str:
    """An alert's RFC 3339 time as "2026-… UTC (… ago)"; "-" when unset."""
    at = _instant(value)
    if at is None:
        return "-" if not value or value.startswith("0001-01-01") else value
    return f"{_ts(at)} ({_ago(at)})"


_RUN_ID = re.compile(r"\b[0-9a-hjkmnp-tv-z]{24}\b")


def _link_runs(text: str) -> markupsafe.Markup:
    """Escaped text with run ids (as in a circuit breaker's reason) made links."""
    escaped = str(markupsafe.escape(text))
    # Safe: the text is escaped above, and ids are only [0-9a-z].
    return markupsafe.Markup(  # noqa: S704
        _RUN_ID.sub(lambda m: f'<a href="/ui/runs/{m.group(0)}">{m.group(0)}</a>', escaped)
    )


def _took(run: RunRecord | dict[str, Any]) -> str:
    start, end = (
        (run.started_at, run.finished_at)
        if isinstance(run, RunRecord)
        else (run.get("started_at"), run.get("finished_at"))
    )
    if start is None or end is None:
        return ""
    return f"{end - start:.2f}s" if end - start < 60 else format_duration(round(end - start))


def _http_url(value: str | None) -> str | None:
    """A link target only for http(s) URLs: alert data may hold javascript: and worse."""
    if not value or urlsplit(value).scheme not in ("http", "https"):
        return None
    return value


def _alert_title(run: RunRecord) -> str:
    labels = run.context.get("alert", {}).get("labels", {})
    name = labels.get("alertname", "")
    where = labels.get("instance") or labels.get("service") or labels.get("job") or ""
    return f"{name} {where}".strip() or run.fingerprint


def _step_artifacts(run: RunRecord) -> set[str]:
    return {a.get("name") for s in run.steps for a in s.get("artifacts", ())}


def _unsaid_exit_code(step: dict[str, Any]) -> int | None:
    """A step's exit code, unless its summary already says it ("exit 0")."""
    code = step.get("exit_code")
    if not isinstance(code, int):
        return None
    said = re.search(rf"\bexit(?:ed with)? {code}\b", str(step.get("summary", "")))
    return None if said else code


def _policies(r: Reflex) -> list[str]:
    out = []
    if r.approval_required:
        out.append(f"approval required (expires after {format_duration(r.approval_timeout)})")
    if r.dry_run:
        out.append("dry run")
    if r.delay:
        out.append(f"delay {format_duration(r.delay)}")
    if r.cooldown:
        out.append(f"cooldown {format_duration(r.cooldown)}")
    if r.resolve_delay:
        out.append(f"resolve_delay {format_duration(r.resolve_delay)}")
    if r.storm_guard:
        g = r.storm_guard
        out.append(f"storm guard {g.max_runs} per {format_duration(g.window)}")
    if r.max_failures:
        n = r.max_failures
        out.append("breaker after a failure" if n == 1 else f"breaker after {n} failures in a row")
    if r.cancel_on_resolve:
        out.append("cancel on resolve")
    if r.max_concurrent > 1:
        out.append(f"max_concurrent {r.max_concurrent}")
    for t in r.active_time_intervals:
        out.append(f"active in {t.name}")
    for t in r.mute_time_intervals:
        out.append(f"muted in {t.name}")
    return out


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("alertreflex.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ts=_ts,
        ago=_ago,
        since=_since,
        alert_time=_alert_time,
        link_runs=_link_runs,
        took=_took,
        http_url=_http_url,
        duration=format_duration,
        pretty=lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=False),
        unsaid_exit_code=_unsaid_exit_code,
        urlpart=lambda v: quote(str(v), safe=""),
    )
    env.globals.update(marks=MARKS, version=__version__, alert_title=_alert_title)
    return env


def _local_path(value: str, fallback: str) -> str:
    """Where to go back to after a form: only a path of this site."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return fallback
    return value


def _with_notice(back: str, done: str) -> str:
    """``back`` with ``done=`` set to this notice (replacing the previous one)."""
    parts = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "done"]
    query.append(("done", done))
    return f"{parts.path}?{urlencode(query, quote_via=quote)}"


def routes(engine: Engine) -> list[web.RouteDef]:
    env = _environment()
    models = {name: action.Params for name, action in engine.actions.items()}
    env.filters["set_params"] = functools.partial(set_params, models)
    static = resources.files("alertreflex.web") / "static"

    def page(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
        me = identity(request)
        held = engine.controls.all()
        text = env.get_template(template).render(
            me=me,
            operator=me.role == "operator",
            csrf=csrf_token(request),
            path=request.path_qs,
            paused=next((c for c in held if c.scope == GLOBAL), None),
            disabled=[c for c in held if c.scope != GLOBAL],
            storms=engine.storms_tripped(),
            notice=request.query.get("done", ""),
            refresh=values.pop("refresh", True),
            **values,
        )
        return web.Response(
            text=text, status=status, content_type="text/html", charset="utf-8", headers=_HEADERS
        )

    def problem(request: web.Request, status: int, message: str) -> web.Response:
        return page(request, "problem.html", status=status, message=message, refresh=False)

    async def overview(request: web.Request) -> web.Response:
        try:
            runs = await engine.store.list_runs(limit=RECENT_RUNS)
            waiting = await engine.store.list_runs(state="awaiting_approval", limit=100)
            firing = await engine.store.firing_episodes(limit=100)
        except StoreError as exc:
            return problem(request, 503, f"the store is unavailable: {exc}")
        return page(request, "overview.html", runs=runs, waiting=waiting, firing=firing)

    async def approvals(request: web.Request) -> web.Response:
        try:
            waiting = await engine.store.list_runs(state="awaiting_approval", limit=1000)
        except StoreError as exc:
            return problem(request, 503, f"the store is unavailable: {exc}")
        return page(request, "approvals.html", waiting=waiting)

    async def runs_page(request: web.Request) -> web.Response:
        filters = {k: v for k in RUN_FILTERS if (v := request.query.get(k, "").strip())}
        try:
            runs = await engine.store.list_runs(**filters, limit=LISTED_RUNS)
        except StoreError as exc:
            return problem(request, 503, f"the store is unavailable: {exc}")
        return page(request, "runs.html", runs=runs, filters=filters, limit=LISTED_RUNS)

    async def run_page(request: web.Request) -> web.Response:
        run_id = request.match_info["id"]
        try:
            run = await engine.store.get_run(run_id)
            if run is None:
                return problem(request, 404, f"no run with id {run_id}")
            artifacts = await engine.store.list_artifacts(run.id)
            audit = await engine.store.list_audit(target=run.id, limit=100)
        except StoreError as exc:
            return problem(request, 503, f"the store is unavailable: {exc}")
        return page(
            request,
            "run.html",
            run=run,
            alert=run.context.get("alert", {}),
            # Artifacts are listed under the step that made them; this is the rest.
            stored={a.name: a for a in artifacts},
            other_artifacts=[a for a in artifacts if a.name not in _step_artifacts(run)],
            audit=audit,
            refresh=not run.state.finished,
            reflex_known=run.reflex in engine.config.reflexes,
        )

    async def reflexes(request: web.Request) -> web.Response:
        teams: dict[str, list[Reflex]] = defaultdict(list)
        for r in sorted(engine.config.reflexes.values(), key=lambda r: r.name):
            teams[r.team].append(r)
        try:
            last = {
                name: await engine.store.list_runs(reflex=name, limit=5)
                for name in engine.config.reflexes
            }
        except StoreError as exc:
            return problem(request, 503, f"the store is unavailable: {exc}")
        held = {c.scope: c for c in engine.controls.all()}
        return page(
            request,
            "reflexes.html",
            teams=sorted(teams.items()),
            last=last,
            held=held,
            policies=_policies,
        )

    async def audit(request: web.Request) -> web.Response:
        try:
            entries = await engine.store.list_audit(limit=200)
        except StoreError as exc:
            return problem(request, 503, f"the store is unavailable: {exc}")
        return page(request, "audit.html", entries=entries)

    async def static_file(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(
            body=(static / name).read_bytes(),
            content_type=_STATIC[name],
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def act(request: web.Request) -> web.Response:
        """Every form of the UI: check the CSRF token, do it, go back."""
        form = await request.post()
        values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
        if not check_csrf(request, values.get("csrf", "")):
            return problem(request, 403, "the form expired or came from another site: reload")
        back = _local_path(values.get("back", ""), "/")
        who = identity(request).name
        reason = values.get("reason", "")[:1000]
        what = request.match_info["what"]
        target = request.match_info.get("target", "")
        if not reason and what != "approve":
            return problem(request, 400, "a reason is required: say why, for whoever looks next")
        try:
            done = await _do(engine, what, target, who, reason)
        except StoreError as exc:
            return problem(request, 503, f"the store is unavailable: {exc}")
        except NotFound as exc:
            return problem(request, 404, str(exc))
        except Refused as exc:
            return problem(request, 409, str(exc))
        raise web.HTTPSeeOther(_with_notice(back, done))

    return [
        web.get("/", overview),
        web.get("/ui/approvals", approvals),
        web.get("/ui/runs", runs_page),
        web.get("/ui/runs/{id}", run_page),
        web.get("/ui/reflexes", reflexes),
        web.get("/ui/audit", audit),
        web.get("/static/{name}", static_file),
        web.post("/ui/{what:pause|resume}", act),
        web.post("/ui/{what:disable|enable|approve|reject|rerun}/{target}", act),
    ]


async def _do(engine: Engine, what: str, target: str, who: str, reason: str) -> str:
    """Carry out one form; the notice shown after it. Raises Refused saying why not."""
    if what == "pause":
        await engine.controls.hold(GLOBAL, who, reason)
        return "paused: nothing new runs"
    if what == "resume":
        await engine.controls.release(GLOBAL, who, reason)
        return "resumed"
    if what in ("disable", "enable"):
        if target not in engine.config.reflexes:
            raise NotFound(f"no reflex named {target!r} in the running config")
        if what == "disable":
            await engine.controls.hold(target, who, reason)
        else:
            await engine.controls.release(target, who, reason)
        return f"{target} {what}d"
    if what in ("approve", "reject"):
        run = await engine.approvals.decide(
            target, what == "approve", who, reason or "approved in the UI"
        )
        if run is None:
            raise Refused(f"run {target} is not awaiting approval (any more)")
        return f"run {target} {'approved' if what == 'approve' else 'rejected'}"
    new, _old = await engine.rerun(target, who, reason)
    return f"re-run queued as {new.id}"
