"""The web UI in a real browser (Debian's Chromium through Playwright) against real
``alertreflex serve`` processes fed Alertmanager v4 webhook payloads: what an
operator sees and clicks, end to end, with no part of the server mocked."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Response,
    ViewportSize,
    expect,
)
from playwright.sync_api import Error as PlaywrightError

from alertreflex.demo.run import EXAMPLE
from alertreflex.demo.stack import Stack
from tests.conftest import ServerProcess
from tests.payloads import alert, notification
from tests.ui.conftest import OPERATOR, VIEWER, auth_settings

OpenPage = Callable[..., Page]

LATER = "2026-11-25T04:00:00.000Z"  # a second episode of the same alert
# The screen of the issue "The first hour": what matters must show without scrolling.
SCREEN: ViewportSize = {"width": 1400, "height": 900}


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Pages in fresh browser contexts (own cookies, credentials, JavaScript setting),
    all closed at the end of the test."""
    contexts: list[BrowserContext] = []

    def open_(**options: Any) -> Page:
        context = browser.new_context(viewport=SCREEN, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def _labels(alertname: str, **more: str) -> dict[str, str]:
    return {"alertname": alertname, "team": "warehouse", "instance": "web-1:8080", **more}


def _typical(labels: dict[str, str]) -> dict[str, Any]:
    """An alert as rules in production write them: several labels, and annotations
    with a sentence or two and a runbook."""
    more = {"severity": "critical", "job": "warehouse", "env": "prod", "region": "eu-west-1"}
    return alert(
        {**more, **labels},
        annotations={
            "summary": f"{labels['alertname']} on {labels['instance']}",
            "description": (
                "The orange bucket has been over 95% full for 5 minutes; items are dropped "
                "and the packing line slows down. Check the consumer before it stalls."
            ),
            "runbook_url": "https://runbooks.example/warehouse/bucket-too-full",
            "dashboard": "https://grafana.example/d/warehouse",
        },
    )


def _above_the_fold(item: Locator) -> None:
    """``item`` shows whole on the first screen, without scrolling."""
    expect(item).to_be_visible()
    box = item.bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= SCREEN["height"], box


def _parameters(step: Locator) -> dict[str, Any]:
    """A step's parameters as listed once opened: collapsed at first."""
    details = step.locator("details.params")
    expect(details).not_to_have_attribute("open", "")
    expect(details.locator("pre.params")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator("pre.params")).to_be_visible()
    shown: dict[str, Any] = json.loads(details.locator("pre.params").inner_text())
    return shown


def _wait_state(
    srv: ServerProcess,
    run_id: str | None = None,
    *,
    state: str,
    reflex: str | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 15.0,
) -> dict[str, Any]:
    """The first run (or run ``run_id``) in ``state``; works with settings.auth, which
    ServerProcess.runs does not."""
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        resp = httpx.get(f"{srv.url}/api/v1/runs", params={"limit": 100}, auth=auth, timeout=5)
        resp.raise_for_status()
        runs = resp.json()["runs"]
        for run in runs:
            if (
                run["state"] == state
                and run_id in (None, run["id"])
                and reflex in (None, run["reflex"])
            ):
                return run
        time.sleep(0.05)
    raise AssertionError(f"no run {run_id or ''} in state {state} after {timeout}s: {runs}")


def _touch_reflex(name: str, alertname: str, marker: Path, extra: str = "") -> str:
    return f"""\
  - name: {name}
    team: warehouse
    match: ['alertname="{alertname}"']
{extra}    on_firing:
      - name: leave a mark
        exec: {{command: ["touch", "{marker}"], timeout: 5s}}
"""


def test_overview_lists_a_run_and_links_to_its_page(make_server, open_page: OpenPage) -> None:  # type: ignore[no-untyped-def]
    """A run shows in the overview's recent runs, and its page has the rendered
    parameters, the output and the exit code; a finished run's page stays still."""
    srv = make_server("""\
reflexes:
  - name: say-hello
    team: warehouse
    match: ['alertname="Hello"']
    on_firing:
      - name: greet
        exec: {command: ["echo", "hello from {{ alert.labels.instance }}"], timeout: 5s}
""")
    srv.post(notification(alert(_labels("Hello"))))
    run = srv.wait_runs(1)[0]

    page = open_page()
    page.goto(srv.url + "/")
    expect(page).to_have_title("Overview · alertreflex")
    recent = page.locator("section", has=page.get_by_role("heading", name="Recent runs"))
    row = recent.locator("tbody tr", has_text="say-hello")
    expect(row).to_have_count(1)
    expect(row.locator(".state")).to_have_text("✓ succeeded")
    expect(row).to_contain_text("Hello web-1:8080")
    # JavaScript refreshes the overview; a finished run's page stays still.
    expect(page.locator("body")).to_have_attribute("data-refresh", "10")

    row.get_by_role("link", name="say-hello").click()
    expect(page).to_have_url(f"{srv.url}/ui/runs/{run['id']}")
    expect(page.locator("h1 .state")).to_have_text("✓ succeeded")
    step = page.locator("article.step", has_text="greet")
    params = step.locator("pre.params")
    expect(params).to_contain_text('"echo"')
    expect(params).to_contain_text('"hello from web-1:8080"')  # rendered, not the template
    expect(params).not_to_contain_text("{{")
    expect(step.locator("pre.output")).to_have_text("hello from web-1:8080")
    expect(step.locator("header .summary")).to_have_text("exit 0")
    expect(page.locator("body")).to_have_attribute("data-refresh", "0")


def test_run_page_shows_a_thread_dump_artifact(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """A thread dump run of a real JVM: on the first screen the summary and both dumps
    with view and download links, under the step that took them; the parameters
    collapsed, naming only what the reflex set."""
    assert shutil.which("jcmd"), "jcmd is needed: apt-get install openjdk-17-jdk-headless"
    srv = make_server("""\
reflexes:
  - name: dump-threads
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - name: thread dumps
        jvm_thread_dump: {pid: "{{ alert.labels.pid }}", count: 2, interval: 200ms}
""")
    with Stack(tmp_path / "demo") as stack:
        demo = stack.start_demo_service(EXAMPLE / "DemoService.java")
        labels = _labels("BucketTooFull_ORANGE", pid=str(demo.popen.pid))
        srv.post(notification(_typical(labels)))
        run = srv.wait_runs(1, timeout=30)[0]

    page = open_page()
    page.goto(f"{srv.url}/ui/runs/{run['id']}")
    page.screenshot(path=tmp_path / "run-threaddump.png")
    expect(page.locator("h1 .state")).to_have_text("✓ succeeded")
    step = page.locator("article.step", has_text="thread dumps")
    _above_the_fold(step.locator(".summary"))
    expect(step.locator(".summary")).to_contain_text(f"2 thread dumps of pid {demo.popen.pid}")
    # Listed once, under the step that took it.
    expect(page.get_by_role("heading", name="Artifacts")).to_have_count(0)
    for n in (1, 2):
        _above_the_fold(step.locator("li", has_text=f"threaddump-{n}.txt"))
    item = step.locator("li", has_text="threaddump-1.txt")
    expect(item).to_contain_text("text/plain")
    assert _parameters(step) == {"pid": demo.popen.pid, "count": 2, "interval": "200ms"}

    download = item.get_by_role("link", name="download")
    href = download.get_attribute("href")
    assert href == f"/api/v1/runs/{run['id']}/artifacts/threaddump-1.txt?download=1"
    answer = page.request.get(srv.url + href)
    assert answer.status == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert 'filename="threaddump-1.txt"' in answer.headers["content-disposition"]
    with page.expect_download() as saved:
        download.click()
    assert saved.value.suggested_filename == "threaddump-1.txt"

    item.get_by_role("link", name="view").click()
    expect(page).to_have_url(f"{srv.url}/api/v1/runs/{run['id']}/artifacts/threaddump-1.txt")
    expect(page.locator("body")).to_contain_text('"orange-bucket-worker"')


def test_run_page_puts_the_output_first_and_says_the_exit_code_once(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """An exec step with a long parameter list and an alert with many labels: its
    output and stderr show whole on the first screen; the parameters are collapsed and
    list only what the config set (no amx_env, no cwd); "exit 0" is said once."""
    srv = make_server("""\
reflexes:
  - name: disk-report
    team: warehouse
    match: ['alertname="DiskFillingUp"']
    on_firing:
      - name: biggest directories
        exec:
          command:
            - sh
            - -c
            - |
              echo "biggest directories on $1:"
              printf '%s\\n' '41G /var/lib/postgresql' '12G /var/log' '3.1G /var/cache/apt' '1.2G /home'
              echo 'du: cannot read directory /var/lib/private: Permission denied' >&2
            - disk-report
            - "{{ alert.labels.instance }}"
          timeout: 20s
          env: {REPORT_TOP: "20", DU_BLOCK_SIZE: "1G", REPORT_TEAM: "{{ alert.labels.team }}"}
          success_exit_codes: [0, 3]
""")
    srv.post(notification(_typical(_labels("DiskFillingUp"))))
    run = srv.wait_runs(1)[0]

    page = open_page()
    page.goto(f"{srv.url}/ui/runs/{run['id']}")
    page.screenshot(path=tmp_path / "run-exec.png")
    step = page.locator("article.step", has_text="biggest directories")
    output = step.locator("details", has=page.locator("pre.output"), has_text="Output")
    expect(output.locator("pre")).to_contain_text("biggest directories on web-1:8080:")
    expect(output.locator("pre")).to_contain_text("41G /var/lib/postgresql")
    _above_the_fold(output)
    stderr = step.locator("details", has_text="stderr")
    expect(stderr.locator("pre")).to_have_text(
        "du: cannot read directory /var/lib/private: Permission denied"
    )
    _above_the_fold(stderr)

    said = re.findall(r"exit(?: code)? 0\b", page.locator("main").inner_text(), re.IGNORECASE)
    assert said == ["exit 0"], said
    expect(step.locator("header .summary")).to_have_text("exit 0")

    keys = step.locator("details.params summary .keys")
    expect(keys).to_have_text("command · timeout · env · success_exit_codes")
    shown = _parameters(step)
    assert shown["command"][-1] == "web-1:8080"  # rendered, not the template
    assert shown["env"]["REPORT_TEAM"] == "warehouse"
    assert (shown["timeout"], shown["success_exit_codes"]) == ("20s", [0, 3])
    assert sorted(shown) == ["command", "env", "success_exit_codes", "timeout"]
    page.screenshot(path=tmp_path / "run-exec-parameters.png", full_page=True)


def test_a_firing_alert_on_the_overview_links_to_its_runs(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """Each firing alert on the overview opens the runs it started, and only those;
    from there, its run."""
    srv = make_server(
        "reflexes:\n"
        + _touch_reflex("mark-disk", "DiskFillingUp", tmp_path / "d")
        + _touch_reflex("mark-web", "WebSlow", tmp_path / "w")
    )
    srv.post(notification(alert(_labels("DiskFillingUp", instance="db-1:9100"))))
    srv.post(notification(alert(_labels("WebSlow"))))
    runs = {r["reflex"]: r for r in srv.wait_runs(2)}

    page = open_page()
    page.goto(srv.url + "/")
    firing = page.locator("section", has=page.get_by_role("heading", name="Firing"))
    expect(firing.locator("tbody tr")).to_have_count(2)
    firing.locator("tr", has_text="db-1:9100").get_by_role("link", name="DiskFillingUp").click()
    page.screenshot(path=tmp_path / "runs-of-an-alert.png")
    expect(page.locator("h1")).to_have_text("Runs for DiskFillingUp db-1:9100")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator(".state")).to_have_text("✓ succeeded")
    rows.get_by_role("link", name="mark-disk").click()
    expect(page).to_have_url(f"{srv.url}/ui/runs/{runs['mark-disk']['id']}")
    # And back: the run's alert lists its runs too.
    page.get_by_role("link", name="all its runs").click()
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    expect(page.locator("table.runs")).not_to_contain_text("mark-web")


def test_pause_stops_the_next_notification_and_resume_lets_it_run(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """Pause from the overview skips the next run and says so; resume lets the next
    episode run."""
    marker = tmp_path / "ran"
    srv = make_server("reflexes:\n" + _touch_reflex("mark-it", "Mark", marker))
    page = open_page()
    page.goto(srv.url + "/")
    expect(page.locator(".status-active")).to_have_text("● Active: reflexes run")
    expect(page.locator(".banner-paused")).to_have_count(0)

    page.get_by_placeholder("why pause").fill("deploy of web in progress")
    page.get_by_role("button", name="Pause everything").click()
    banner = page.locator(".banner-paused")
    expect(banner).to_contain_text("‖ PAUSED")
    expect(banner).to_contain_text("deploy of web in progress")
    expect(page.locator(".notice")).to_have_text("paused: nothing new runs")
    expect(page.get_by_role("button", name="Pause everything")).to_have_count(0)
    assert httpx.get(f"{srv.url}/api/v1/controls", timeout=5).json()["paused"] is True

    srv.post(notification(alert(_labels("Mark"))))
    skipped = srv.wait_runs(1, states=("skipped",))[0]
    assert skipped["reason"].startswith("paused by"), skipped
    assert "deploy of web in progress" in skipped["reason"]
    assert not marker.exists()
    page.reload()
    row = page.locator("table.runs tbody tr", has_text="mark-it")
    expect(row.locator(".state")).to_have_text("↷ skipped")
    expect(row.locator(".reason")).to_contain_text("paused by")

    banner.get_by_placeholder("why resume").fill("deploy done")
    banner.get_by_role("button", name="Resume").click()
    expect(page.locator(".banner-paused")).to_have_count(0)
    expect(page.locator(".status-active")).to_be_visible()
    expect(page.get_by_role("button", name="Pause everything")).to_be_visible()
    srv.post(notification(alert(_labels("Mark"), starts_at=LATER)))
    srv.wait_runs(1)
    assert marker.exists()


def test_approving_a_waiting_run_runs_it(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """A run awaiting approval shows its steps' parameters open; approving runs it,
    and the audit log says who approved it and why."""
    marker = tmp_path / "restarted"
    srv = make_server(
        auth_settings(tmp_path)
        + "reflexes:\n"
        + _touch_reflex("restart-web", "WebStuck", marker, "    approval: required\n")
    )
    srv.post(notification(alert(_labels("WebStuck"))))
    waiting = _wait_state(srv, state="awaiting_approval", auth=OPERATOR)

    page = open_page(http_credentials={"username": OPERATOR[0], "password": OPERATOR[1]})
    page.goto(srv.url + "/")
    queue = page.locator("section", has=page.get_by_role("heading", name="Waiting for approval"))
    queue.locator("tr", has_text="restart-web").get_by_role("link", name="Review").click()
    expect(page).to_have_url(f"{srv.url}/ui/runs/{waiting['id']}")
    expect(page.locator("h1 .state")).to_have_text("? awaiting approval")
    expect(page.get_by_role("heading", name="Steps to run")).to_be_visible()
    params = page.locator("article.step", has_text="leave a mark").locator("pre.params")
    # Open: before approving, the parameters are the thing to read.
    expect(params).to_be_visible()
    expect(params).to_contain_text(f'"{marker}"')
    assert not marker.exists()

    page.get_by_placeholder("note (optional)").fill("checked the dashboard")
    page.get_by_role("button", name="Approve and run").click()
    expect(page.locator(".notice")).to_have_text(f"run {waiting['id']} approved")
    _wait_state(srv, waiting["id"], state="succeeded", auth=OPERATOR)
    assert marker.exists()
    page.reload()
    expect(page.locator("h1 .state")).to_have_text("✓ succeeded")
    expect(page.locator(".facts div", has_text="Approved by").locator("dd")).to_have_text(
        OPERATOR[0]
    )
    expect(page.get_by_role("button", name="Approve and run")).to_have_count(0)

    page.get_by_role("link", name="Audit").click()
    entry = page.locator("table.audit tbody tr", has_text=waiting["id"])
    expect(entry).to_have_count(1)
    expect(entry.locator("td").nth(1)).to_have_text(OPERATOR[0])
    expect(entry.locator(".action")).to_have_text("approve")
    expect(entry.locator(".reason")).to_have_text("checked the dashboard")


def _first_answer(page: Page, url: str) -> Response:
    """The response to navigating to ``url``. Chromium answers a 401 it cannot log in
    to either with that page or with net::ERR_INVALID_AUTH_CREDENTIALS, depending on
    whether credentials were tried; the response is seen either way."""
    with page.expect_response(url) as seen:
        try:
            page.goto(url)
        except PlaywrightError as exc:
            if "ERR_INVALID_AUTH_CREDENTIALS" not in str(exc):
                raise
    return seen.value


def test_a_viewer_cannot_pause_but_an_operator_can(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """With settings.auth: no credentials get 401, a viewer sees no form and is refused
    a forged one, an operator pauses, and the audit names them."""
    srv = make_server(
        auth_settings(tmp_path) + "reflexes:\n" + _touch_reflex("m", "M", tmp_path / "m")
    )
    controls = f"{srv.url}/api/v1/controls"

    # Without credentials, or with a wrong password, the browser gets 401 and a prompt.
    for credentials in (None, {"username": VIEWER[0], "password": "not-it"}):
        answer = _first_answer(open_page(http_credentials=credentials), srv.url + "/")
        assert answer.status == 401, credentials
        assert answer.headers["www-authenticate"].startswith("Basic "), credentials

    viewer = open_page(http_credentials={"username": VIEWER[0], "password": VIEWER[1]})
    viewer.goto(srv.url + "/")
    expect(viewer.locator(".who")).to_have_text("vera · viewer (read only)")
    expect(viewer.locator(".status-active")).to_be_visible()
    expect(viewer.get_by_role("button", name="Pause everything")).to_have_count(0)
    expect(viewer.locator("form")).to_have_count(0)

    # The form fields an operator's page would send, from the viewer's context.
    refused = viewer.request.post(
        srv.url + "/ui/pause", form={"csrf": "", "back": "/", "reason": "viewer tries"}
    )
    assert refused.status == 403
    assert "vera is a viewer" in refused.text()
    # The same as a form submitted by the browser itself (same origin, own cookies).
    with viewer.expect_navigation() as navigation:
        viewer.evaluate("""() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/ui/pause";
            for (const [name, value] of [["back", "/"], ["reason", "viewer tries again"]]) {
                const input = document.createElement("input");
                input.name = name;
                input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""")
    assert navigation.value is not None and navigation.value.status == 403
    expect(viewer.locator("body")).to_contain_text("vera is a viewer")
    assert viewer.request.get(controls).json()["paused"] is False

    operator = open_page(http_credentials={"username": OPERATOR[0], "password": OPERATOR[1]})
    operator.goto(srv.url + "/")
    expect(operator.locator(".who")).to_have_text("olivia · operator")
    operator.get_by_placeholder("why pause").fill("database failover")
    operator.get_by_role("button", name="Pause everything").click()
    expect(operator.locator(".banner-paused")).to_contain_text("by olivia")
    assert viewer.request.get(controls).json()["paused"] is True

    viewer.goto(srv.url + "/")
    expect(viewer.locator(".banner-paused")).to_contain_text("‖ PAUSED by olivia")
    expect(viewer.get_by_role("button", name="Resume")).to_have_count(0)
    viewer.get_by_role("link", name="Audit").click()
    entry = viewer.locator("table.audit tbody tr", has_text="database failover")
    expect(entry).to_have_count(1)
    expect(entry.locator("td").nth(1)).to_have_text("olivia")
    expect(entry.locator(".action")).to_have_text("pause")
    expect(viewer.locator("table.audit")).not_to_contain_text("viewer tries")


def _badges_read_as_words(page: Page) -> None:
    # (.state-firing marks an alert by its name, not a state.)
    badges = page.locator(".state:not(.state-firing)").all()
    assert badges, page.url
    for badge in badges:
        text = badge.inner_text().strip()
        assert re.fullmatch(r"\S [a-z]+( [a-z]+)*", text), f"{page.url}: badge {text!r}"


def test_pages_work_without_javascript_and_states_read_without_colour(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """Without JavaScript the pages read, refresh and post their forms; every state
    badge is a mark and a word."""
    srv = make_server(f"""\
reflexes:
{_touch_reflex("works", "Both", tmp_path / "works")}
  - name: breaks
    team: warehouse
    match: ['alertname="Both"']
    on_firing: [{{exec: {{command: ["false"], timeout: 5s}}}}]
""")
    srv.post(notification(alert(_labels("Both"))))
    srv.wait_runs(2, states=("succeeded", "failed"))

    page = open_page(java_script_enabled=False)
    page.goto(srv.url + "/")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="works").locator(".state")).to_have_text("✓ succeeded")
    expect(rows.filter(has_text="breaks").locator(".state")).to_have_text("✗ failed")
    # Without JavaScript the page refreshes itself through <noscript>.
    expect(page.locator('noscript meta[http-equiv="refresh"]')).to_have_attribute("content", "30")
    # Every state badge says its state in words after a mark, whatever the colours.
    _badges_read_as_words(page)
    page.get_by_role("link", name="Reflexes").click()
    expect(page.locator(".reflex")).to_have_count(2)
    _badges_read_as_words(page)
    page.get_by_role("link", name="Overview").click()

    # Forms need no JavaScript either.
    page.get_by_placeholder("why pause").fill("no script needed")
    page.get_by_role("button", name="Pause everything").click()
    expect(page.locator(".banner-paused")).to_contain_text("no script needed")


def test_rejected_and_expired_runs_show_their_states(  # type: ignore[no-untyped-def]
    make_server, open_page: OpenPage, tmp_path: Path
) -> None:
    """Rejecting from the run page, and a run nobody decided about, show their states
    there and on the overview; neither ran."""
    srv = make_server(
        "reflexes:\n"
        + _touch_reflex("reject-me", "Reject", tmp_path / "r", "    approval: required\n")
        + _touch_reflex(
            "expire-me",
            "Expire",
            tmp_path / "e",
            "    approval: required\n    approval_timeout: 1s\n",
        )
    )
    srv.post(notification(alert(_labels("Reject"))))
    srv.post(notification(alert(_labels("Expire"))))
    rejectable = _wait_state(srv, state="awaiting_approval", reflex="reject-me")
    expired = _wait_state(srv, state="expired", reflex="expire-me", timeout=10)

    page = open_page()
    page.goto(f"{srv.url}/ui/runs/{rejectable['id']}")
    page.get_by_placeholder("why reject").fill("not during the sale")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".notice")).to_have_text(f"run {rejectable['id']} rejected")
    expect(page.locator("h1 .state")).to_have_text("⊘ rejected")
    expect(page.locator("section.approval")).to_have_count(0)
    expect(page.locator(".auditlist")).to_contain_text("reject: not during the sale")

    page.goto(f"{srv.url}/ui/runs/{expired['id']}")
    expect(page.locator("h1 .state")).to_have_text("⌛ expired")
    expect(page.locator(".facts .reason")).to_contain_text("nobody approved it")
    expect(page.get_by_role("button", name="Approve and run")).to_have_count(0)

    page.goto(srv.url + "/")
    runs = page.locator("table.runs tbody tr")
    expect(runs.filter(has_text="reject-me").locator(".state")).to_have_text("⊘ rejected")
    expect(runs.filter(has_text="expire-me").locator(".state")).to_have_text("⌛ expired")
    expect(page.get_by_role("heading", name="Waiting for approval")).to_have_count(0)
    assert not (tmp_path / "r").exists() and not (tmp_path / "e").exists()


def test_the_notice_says_what_the_last_action_did(make_server, open_page: OpenPage) -> None:  # type: ignore[no-untyped-def]
    """The notice after a form is the last action's, not an earlier one's."""
    srv = make_server("reflexes:\n" + _touch_reflex("m", "M", Path("/nonexistent/m")))
    page = open_page()
    page.goto(srv.url + "/")
    page.get_by_placeholder("why pause").fill("one")
    page.get_by_role("button", name="Pause everything").click()
    expect(page.locator(".notice")).to_have_text("paused: nothing new runs")
    page.get_by_placeholder("why resume").fill("two")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".notice")).to_have_text("resumed", timeout=2_000)
