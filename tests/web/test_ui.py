"""The UI over plain HTTP against a real server: pages, forms with their CSRF token,
and alert data (untrusted) that must stay text."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx

from tests.payloads import alert, notification

CONFIG = """\
reflexes:
  - name: note
    team: t
    description: says hello
    match: ['alertname=~"A|B"']
    cooldown: 5m
    on_firing: [{exec: {command: ["echo", "hello {{ alert.labels.instance }}"]}}]
"""


def csrf(srv: Any, path: str = "/") -> str:
    page = httpx.get(srv.url + path, timeout=10).text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, page
    return found.group(1)


def form(srv: Any, action: str, **fields: str) -> httpx.Response:
    return httpx.post(srv.url + action, data=fields, timeout=10, follow_redirects=False)


def test_pages_render_with_their_safety_headers(make_server: Any) -> None:
    """Every page answers HTML with its CSP; unknown runs and static files are 404."""
    srv = make_server(CONFIG)
    srv.post(notification(alert({"alertname": "A", "team": "t", "instance": "web-1"})))
    (run,) = srv.wait_runs(1)
    for path, text in (
        ("/", "Recent runs"),
        ("/ui/reflexes", "Team t"),
        ("/ui/approvals", "Nothing is waiting for approval."),
        ("/ui/audit", "Nobody has paused"),
        (f"/ui/runs/{run['id']}", "hello web-1"),
    ):
        resp = httpx.get(srv.url + path, timeout=10)
        assert resp.status_code == 200, path
        assert resp.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        assert text in resp.text, path
    overview = httpx.get(srv.url + "/", timeout=10).text
    assert "✓ succeeded" in overview  # the state reads without colour
    assert httpx.get(f"{srv.url}/ui/runs/nope", timeout=10).status_code == 404
    css = httpx.get(f"{srv.url}/static/style.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert httpx.get(f"{srv.url}/static/../app.py", timeout=10).status_code == 404


def test_alert_data_is_shown_as_text_never_as_markup(make_server: Any) -> None:
    """Labels, rendered parameters and query values are escaped on every page that
    shows them, and a javascript: generatorURL never becomes a link."""
    srv = make_server(CONFIG)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    payload = notification(alert({"alertname": "A", "team": "t", "instance": hostile}))
    payload["alerts"][0]["generatorURL"] = "javascript:alert(document.cookie)"
    srv.post(payload)
    (run,) = srv.wait_runs(1)
    for path in ("/", f"/ui/runs/{run['id']}", f"/ui/runs?fingerprint={run['fingerprint']}"):
        page = httpx.get(srv.url + path, timeout=10).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page, path
        assert "javascript:" not in page  # not made into a link
    listed = httpx.get(srv.url + "/ui/runs", params={"reflex": hostile}, timeout=10)
    assert listed.status_code == 200 and "No run matches." in listed.text
    assert "<script>alert" not in listed.text and "&lt;script&gt;" in listed.text


def test_forms_need_their_token_and_go_back_only_within_the_site(make_server: Any) -> None:
    """A form without a valid CSRF token or a reason is refused; after one, the
    redirect stays on this site and the page says what was done."""
    srv = make_server(CONFIG)
    refused = form(srv, "/ui/pause", reason="no token")
    assert refused.status_code == 403
    assert "the form expired or came from another site" in refused.text
    assert form(srv, "/ui/pause", reason="x", csrf="0" * 64).status_code == 403
    assert httpx.get(f"{srv.url}/api/v1/controls", timeout=10).json()["paused"] is False

    token = csrf(srv)
    assert form(srv, "/ui/pause", csrf=token, reason="").status_code == 400  # reason needed
    done = form(srv, "/ui/pause", csrf=token, reason="deploy", back="https://evil.example/")
    assert done.status_code == 303
    assert done.headers["location"].startswith("/?done=")  # not the foreign site
    assert httpx.get(f"{srv.url}/api/v1/controls", timeout=10).json()["paused"] is True
    page = httpx.get(srv.url + done.headers["location"], timeout=10).text
    assert "PAUSED" in page and "deploy" in page and "paused: nothing new runs" in page
    back = form(srv, "/ui/resume", csrf=token, reason="done", back="/ui/audit")
    assert back.headers["location"].startswith("/ui/audit?done=")
    audit = httpx.get(f"{srv.url}/api/v1/audit", timeout=10).json()["audit"]
    assert [(e["action"], e["reason"]) for e in audit] == [("resume", "done"), ("pause", "deploy")]


def test_disable_enable_and_rerun_from_the_ui(make_server: Any) -> None:
    """Disable, enable and re-run forms do what they say, and a held reflex does
    not re-run."""
    srv = make_server(CONFIG)
    token = csrf(srv)
    assert form(srv, "/ui/disable/note", csrf=token, reason="noisy").status_code == 303
    reflexes = httpx.get(f"{srv.url}/ui/reflexes", timeout=10).text
    assert "⊘ disabled" in reflexes and "noisy" in reflexes
    assert form(srv, "/ui/disable/nope", csrf=token, reason="x").status_code == 404
    srv.post(notification(alert({"alertname": "A", "team": "t", "instance": "w"})))
    (skipped,) = srv.wait_runs(1, states=("skipped",))
    assert skipped["reason"] == "reflex disabled by anonymous: noisy"
    # A held reflex does not re-run; enabled again, it does, past its cooldown.
    refused = form(srv, f"/ui/rerun/{skipped['id']}", csrf=token, reason="try")
    assert refused.status_code == 409 and "resume it first" in refused.text
    assert form(srv, "/ui/enable/note", csrf=token, reason="quiet now").status_code == 303
    done = form(srv, f"/ui/rerun/{skipped['id']}", csrf=token, reason="try again")
    assert done.status_code == 303, done.text
    (ran,) = srv.wait_runs(1)
    assert (ran["manual_by"], ran["rerun_of"]) == ("anonymous", skipped["id"])
    page = httpx.get(f"{srv.url}/ui/runs/{ran['id']}", timeout=10).text
    assert "Manual re-run" in page and skipped["id"] in page


def test_breaker_banner_links_the_failed_run_and_times_read_as_dates(make_server: Any) -> None:
    """An open circuit breaker's banner links the run that failed; alert times read
    as dates and Alertmanager's zero endsAt as unset."""
    srv = make_server("""\
reflexes:
  - name: flaky
    team: t
    match: ['alertname="F"']
    max_failures: 1
    on_firing: [{exec: {command: ["false"]}}]
""")
    srv.post(notification(alert({"alertname": "F", "team": "t", "instance": "<b>w</b>"})))
    (failed,) = srv.wait_runs(1, states=("failed",))
    page = httpx.get(srv.url + "/", timeout=10).text
    assert "CIRCUIT BREAKER OPEN" in page
    assert f'<a href="/ui/runs/{failed["id"]}">{failed["id"]}</a>' in page
    assert "1 failed run in a row" in page
    reflexes = httpx.get(srv.url + "/ui/reflexes", timeout=10).text
    assert "breaker after a failure" in reflexes and "after 1 failures" not in reflexes
    run = httpx.get(f"{srv.url}/ui/runs/{failed['id']}", timeout=10).text
    # startsAt as a date; Alertmanager's zero endsAt of a firing alert as unset.
    assert re.search(r"<dt>Starts at</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(", run)
    assert "<dt>Ends at</dt><dd>-</dd>" in run
    assert "&lt;b&gt;w&lt;/b&gt;" in run and "<b>w</b>" not in run


def _shown_params(page: str, step: str) -> tuple[str, dict[str, Any]]:
    """The opening tag of a step's parameters block and the parameters it lists."""
    article = page[page.index(f"<strong>{step}</strong>") :]
    found = re.search(
        r'(<details class="params"[^>]*>).*?<pre class="params">(.*?)</pre>', article, re.S
    )
    assert found, article
    return found.group(1), json.loads(html.unescape(found.group(2)))


def test_parameters_list_what_the_config_set_in_nested_models_too(make_server: Any) -> None:
    """Stored parameters carry every default; the run page lists only what differs,
    inside nested requests too, and keeps them open on a run that executed nothing
    (dry run) since they are all there is to read."""
    srv = make_server("""\
reflexes:
  - name: debug-while-firing
    team: t
    match: ['alertname="Slow"']
    dry_run: true
    on_firing:
      - name: level to debug
        log_level:
          level: DEBUG
          get: {url: "http://{{ alert.labels.instance }}/log/level"}
          set: {url: "http://{{ alert.labels.instance }}/log/level", method: PUT}
          retries: 0
""")
    srv.post(notification(alert({"alertname": "Slow", "team": "t", "instance": "web-1"})))
    (run,) = srv.wait_runs(1, states=("skipped",))
    stored = srv.run(run["id"])["steps"][0]["params"]
    assert stored["logger"] == "ROOT" and stored["set"]["headers"] == {}  # defaults stored

    tag, shown = _shown_params(
        httpx.get(f"{srv.url}/ui/runs/{run['id']}", timeout=10).text, "level to debug"
    )
    assert shown == {
        "level": "DEBUG",
        "get": {"url": "http://web-1/log/level"},
        "set": {"url": "http://web-1/log/level", "method": "PUT"},
        "retries": 0,
    }
    assert " open" in tag


def test_a_finished_step_shows_its_parameters_collapsed_and_its_exit_code_once(
    make_server: Any,
) -> None:
    """Once a step ran, its parameters are collapsed, and its exit code is said once:
    in the summary when the summary says it, on its own line otherwise."""
    srv = make_server("""\
reflexes:
  - name: codes
    team: t
    match: ['alertname="C"']
    on_firing:
      - name: says it
        exec: {command: ["sh", "-c", "exit 3"], success_exit_codes: [3]}
      - name: killed
        exec: {command: ["sh", "-c", "kill -KILL $$"]}
""")
    srv.post(notification(alert({"alertname": "C", "team": "t"})))
    (run,) = srv.wait_runs(1, states=("failed",))
    page = httpx.get(f"{srv.url}/ui/runs/{run['id']}", timeout=10).text
    tag, shown = _shown_params(page, "says it")
    assert tag == '<details class="params">'
    assert shown == {"command": ["sh", "-c", "exit 3"], "success_exit_codes": [3]}
    says, killed = page.split("<strong>killed</strong>")
    assert '<span class="summary">exit 3</span>' in says and 'class="exit"' not in says
    assert '<span class="summary">killed by SIGKILL</span>' in killed
    assert '<code class="exit">-9</code>' in killed


def test_the_runs_page_filters_by_alert_and_by_reflex(make_server: Any) -> None:
    """/ui/runs lists the runs of one alert (its fingerprint, every episode) or of one
    reflex, newest first; the reflexes page links to the latter."""
    srv = make_server(
        CONFIG
        + """\
  - name: other
    team: t
    match: ['alertname="B"']
    on_firing: [{exec: {command: ["true"]}}]
"""
    )
    a = alert({"alertname": "A", "team": "t", "instance": "web-1"})
    srv.post(notification(a))
    srv.post(
        notification(
            alert(
                {"alertname": "A", "team": "t", "instance": "web-1"},
                starts_at="2026-11-25T05:00:00Z",
            )
        )
    )
    srv.post(notification(alert({"alertname": "B", "team": "t", "instance": "web-2"})))
    runs = srv.wait_runs(4, states=("succeeded", "skipped"))  # note has a cooldown
    ids = {r["id"] for r in runs if r["fingerprint"] == a["fingerprint"]}
    assert len(ids) == 2  # two episodes of A

    def listed(**query: str) -> tuple[str, set[str]]:
        page = httpx.get(f"{srv.url}/ui/runs", params=query, timeout=10).text
        return page, set(re.findall(r'href="/ui/runs/([0-9a-z]{24})"', page))

    page, found = listed(fingerprint=a["fingerprint"])
    assert found == ids
    assert "<h1>Runs for A web-1</h1>" in page and "Episode since" in page
    assert listed(reflex="other")[1] == {r["id"] for r in runs if r["reflex"] == "other"}
    assert listed()[1] == {r["id"] for r in runs}
    assert "No run of this alert" in listed(fingerprint="0" * 16)[0]
    reflexes = httpx.get(f"{srv.url}/ui/reflexes", timeout=10).text
    assert '<a href="/ui/runs?reflex=other">all</a>' in reflexes
