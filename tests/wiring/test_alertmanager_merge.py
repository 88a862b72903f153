"""Merging alertreflex's receiver and route into alertmanager.yml files
(alertreflex.wiring.alertmanager_merge): on random routing trees, the real amtool routes
every alert to the receivers it reached before, plus alertreflex; on every layout the
file only gains lines; and what cannot be merged safely is refused, saying why."""

from __future__ import annotations

import difflib
import itertools
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertreflex.core.matchers import parse_matchers
from alertreflex.demo.stack import install_hint
from alertreflex.wiring import alertmanager_merge
from alertreflex.wiring.alertmanager import Wiring, wiring_from_options
from alertreflex.wiring.alertmanager_merge import MergeError, fallback_routes, merge

CONFIGS = Path(__file__).parents[1] / "fixtures" / "alertmanager-configs"
WIRING = wiring_from_options(url="http://alertreflex.example:8976")


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("amtool") is None:
        pytest.fail(f"these tests need amtool: {install_hint('amtool')}")
    return subprocess.run(
        ["amtool", *args], capture_output=True, text=True, timeout=30, check=False
    )


def routed(path: Path, label_sets: list[list[str]]) -> list[str]:
    """amtool's routing of each label set: the receivers, comma-separated, in order."""

    def one(labels: list[str]) -> str:
        out = amtool("config", "routes", "test", f"--config.file={path}", *labels)
        assert out.returncode == 0, out.stderr + path.read_text()
        return out.stdout.strip()

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, label_sets))


def check_config(path: Path) -> None:
    out = amtool("check-config", str(path))
    assert out.returncode == 0, out.stdout + out.stderr + path.read_text()


def added_lines_only(before: str, after: str) -> bool:
    """Whether ``after`` is ``before`` with lines inserted and nothing else changed."""
    matcher = difflib.SequenceMatcher(
        a=before.splitlines(keepends=True), b=after.splitlines(keepends=True), autojunk=False
    )
    return all(op in ("equal", "insert") for op, *_ in matcher.get_opcodes())


# --- random routing trees, routed by amtool before and after --------------------------

VALUES = ["x", "y"]
# Every combination of two labels, each x, y or absent.
LABEL_SETS = [
    [f"{name}={value}" for name, value in zip("ab", values, strict=True) if value]
    for values in itertools.product([*VALUES, None], repeat=2)
]


@st.composite
def matcher_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A route's matchers in one of the three ways Alertmanager takes them."""
    label = st.sampled_from(["a", "b"])
    style = draw(st.sampled_from(["matchers", "one-line", "match", "match_re", "none"]))
    if style == "none":
        return {}
    if style in ("match", "match_re"):
        values = st.sampled_from(["x", "y"] if style == "match" else ["x", "x|y", ".*", "z?"])
        return {style: draw(st.dictionaries(label, values, min_size=1, max_size=2))}
    matchers = draw(
        st.lists(
            st.builds(
                "{}{}{}".format,
                label,
                st.sampled_from(["=", "!=", "=~", "!~"]),
                st.sampled_from(['"x"', '"y"', '"x|y"', '""']),
            ),
            min_size=1,
            max_size=3,
        )
    )
    return {"matchers": [", ".join(matchers)] if style == "one-line" else matchers}


@st.composite
def routes(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    route: dict[str, Any] = {"receiver": draw(st.sampled_from(["r1", "r2", "r3"]))}
    route |= draw(matcher_fields())
    if draw(st.booleans()):
        route["continue"] = draw(st.sampled_from([True, False, "yes"]))
    if depth == 0 and draw(st.integers(0, 3)) == 0:
        route["routes"] = draw(st.lists(routes(depth=1), min_size=1, max_size=2))
    return route


def config_text(children: list[dict[str, Any]]) -> str:
    doc: dict[str, Any] = {"route": {"receiver": "root", "group_by": ["alertname"]}}
    if children:
        doc["route"]["routes"] = children
    doc["receivers"] = [{"name": n} for n in ("root", "r1", "r2", "r3")]
    return yaml.safe_dump(doc, sort_keys=False).replace("'yes'", "yes")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    children=st.lists(routes(), max_size=4),
    match=st.sampled_from([(), ('a="x"',), ('b=~"x|y"', 'a!="y"')]),
)
def test_every_alert_reaches_the_receivers_it_reached_and_alertreflex(
    children: list[dict[str, Any]], match: tuple[str, ...], tmp_path_factory: Any
) -> None:
    """Whatever the routing tree (children with and without matchers, continue true and
    false, nested routes, the three matcher styles), amtool routes each alert after the
    merge to the same receivers in the same order, after alertreflex when its route
    matches: the top-level receiver keeps exactly its fallback alerts."""
    w = wiring_from_options(url="http://alertreflex.example:8976", match=match)
    directory = tmp_path_factory.mktemp("trees")
    before_path, after_path = directory / "before.yml", directory / "after.yml"
    before_path.write_text(config_text(children))
    check_config(before_path)
    try:
        merged = merge(before_path.read_text(), w)
    except MergeError as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:  # only for trees that would take too many routes
        assert "would take" in refused
        return
    after_path.write_text(merged.text)
    check_config(after_path)
    before, after = routed(before_path, LABEL_SETS), routed(after_path, LABEL_SETS)
    matchers = [m for text in match for m in parse_matchers(text)]
    for labels, old, new in zip(LABEL_SETS, before, after, strict=True):
        values = dict(label.split("=") for label in labels)
        takes = all(m.matches(values) for m in matchers)
        assert new == (f"alertreflex,{old}" if takes else old), (labels, merged.text)


# --- fallback_routes, worked out by hand -----------------------------------------------


def test_fallback_routes_by_hand() -> None:
    """No child routes: the top-level receiver gets everything back. A child without
    matchers matched every alert before, so the receiver never got one: nothing. Children
    with continue: true are negated, one route per alternative; without continue they
    need nothing (the end of the list is only reached when they did not match)."""
    assert fallback_routes("ops", []) == [{"receiver": "ops"}]
    assert fallback_routes("ops", [{"receiver": "a", "continue": "true"}]) == []
    assert fallback_routes("ops", [{"receiver": "a", "match": {"t": "x"}}]) == [{"receiver": "ops"}]
    children = [
        {"receiver": "a", "matchers": ['t="x"'], "continue": "true"},
        {"receiver": "b", "match_re": {"s": "p|q"}, "match": {"e": "prod"}, "continue": "on"},
        {"receiver": "c", "matchers": ['u!~"v"']},
    ]
    assert fallback_routes("ops", children) == [
        {"receiver": "ops", "matchers": ['t!="x"', 'e!="prod"']},
        {"receiver": "ops", "matchers": ['t!="x"', 's!~"p|q"']},
    ]


def test_too_many_fallback_routes_and_unreadable_routes_are_refused() -> None:
    """Four routes with continue: true and two matchers each would take 16 fallback
    routes: refused, as are a `continue` Alertmanager would not read as a boolean and a
    matcher it would not parse."""
    wide = [{"matchers": ['a="1"', 'b="2"'], "continue": "true"}] * 4
    with pytest.raises(MergeError, match="would take 16 routes"):
        fallback_routes("ops", wide)
    with pytest.raises(MergeError, match=r"route.routes\[0\].continue: 'maybe' is not true"):
        fallback_routes("ops", [{"matchers": ['a="1"'], "continue": "maybe"}])
    with pytest.raises(MergeError, match=r"line 7: route.routes\[0\]: invalid matcher"):
        fallback_routes("ops", [{"matchers": ["a=~'('"]}], [7])


# --- layouts: the file only gains lines -------------------------------------------------

ROUTES = ["    - receiver: pager", '      matchers: [severity="critical"]']


def layout(*, dash: int = 4, receivers_dash: int = 2, routes: str | None = None) -> str:
    lines = ["# Production", "route:", "  receiver: ops  # the default", "  group_by: [alertname]"]
    if routes is None:
        lines += ["  routes:", "    # Pages first."]
        lines += [
            " " * dash + line.lstrip() if "- " in line else " " * (dash + 2) + line.lstrip()
            for line in ROUTES
        ]
    elif routes != "absent":
        lines += [f"  routes: {routes}".rstrip()]
    lines += ["", "receivers:"]
    lines += [" " * receivers_dash + f"- name: {n}" for n in ("ops", "pager")]
    lines += ["", "# The end."]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(layout(), id="indented-dashes"),
        pytest.param(layout(dash=2, receivers_dash=0), id="flush-dashes"),
        pytest.param(layout(dash=6, receivers_dash=4), id="wide"),
        pytest.param(layout().replace("\n", "\r\n"), id="crlf"),
        pytest.param(layout().removesuffix("\n"), id="no-final-newline"),
        pytest.param(layout(routes="absent"), id="no-routes"),
        pytest.param(layout(routes=""), id="empty-routes"),
        pytest.param(layout(routes="[]  # none yet"), id="routes-[]"),
        pytest.param(layout(routes="~"), id="routes-null"),
        pytest.param(
            layout().replace("receivers:\n  - name: ops\n  - name: pager", "receivers: []"),
            id="receivers-[]",
        ),
        pytest.param(
            layout().replace("\nreceivers:\n  - name: ops\n  - name: pager\n", ""),
            id="no-receivers",
        ),
    ],
)
def test_every_layout_only_gains_lines(text: str) -> None:
    """Indentation styles, CRLF, no final newline, no or empty `routes:` and
    `receivers:`: the merged file reads as the original plus the receiver, the route
    first and the fallback last, and (but for an empty list's `[]` or `~`) its lines
    are the original's with lines inserted. Merging again changes nothing."""
    merged = merge(text, WIRING)
    assert merged.changed
    original = yaml.safe_load(text)
    children = original["route"].get("routes") or []
    expected = {
        **original,
        "route": {
            **original["route"],
            "routes": [
                {
                    "receiver": "alertreflex",
                    "continue": True,
                    "group_by": ["..."],
                    "group_wait": "0s",
                    "group_interval": "30s",
                },
                *children,
                {"receiver": "ops"},
            ],
        },
        "receivers": [
            *(original.get("receivers") or []),
            {
                "name": "alertreflex",
                "webhook_configs": [
                    {
                        "url": "http://alertreflex.example:8976/webhook",
                        "send_resolved": True,
                        "max_alerts": 0,
                    }
                ],
            },
        ],
    }
    assert yaml.safe_load(merged.text) == expected
    emptied = text.replace(" []", "").replace(" ~", "")
    assert added_lines_only(emptied if emptied.endswith("\n") else emptied + "\n", merged.text)
    if "\r\n" in text:
        assert merged.text.count("\n") == merged.text.count("\r\n")
    again = merge(merged.text, WIRING)
    assert (again.changed, again.text) == (False, merged.text)


def test_comments_stay_with_what_they_describe() -> None:
    """The comment above the first route stays above it (alertreflex's route goes right
    under `routes:`), and comment lines indented under the last item stay with it (the
    new item goes after them)."""
    text = layout().replace(
        "  - name: pager\n", "  - name: pager\n    # pagerduty_configs: later\n"
    )
    merged = merge(text, WIRING).text
    assert "    # Pages first.\n    - receiver: pager\n" in merged
    assert "  - name: pager\n    # pagerduty_configs: later\n  - name: " in merged
    assert merged.index('- receiver: "alertreflex"') < merged.index("# Pages first.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            layout().replace("receiver: pager", "receiver: alertreflex"),
            r"line 7: route.routes\[0\] already sends to 'alertreflex', with other settings",
        ),
        (
            layout().replace("  receiver: ops", "  receiver: alertreflex"),
            "the top-level route's receiver is 'alertreflex' already",
        ),
        (
            "x: &r\n  - receiver: a\nroute:\n  receiver: a\n  routes: *r\nreceivers:\n  - name: a\n",
            "line 5: `route.routes:` is an alias",
        ),
        ("{route: {receiver: a}, receivers: [{name: a}]}\n", "one flow mapping"),
        ("route:\n  receiver: a\n  routes: [{receiver: b}]\n", "`routes:` is in flow style"),
        (
            "route:\n  receiver: a\n  routes:\n    - receiver: b\n      continue: sometimes\n",
            "continue: 'sometimes' is not true or false",
        ),
    ],
)
def test_what_cannot_be_merged_safely_is_refused(text: str, message: str) -> None:
    """A route to alertreflex that someone else wrote, the top-level receiver named
    alertreflex, anchors and flow style that a text insertion would get wrong, and a
    `continue` Alertmanager would not read: MergeError, saying where."""
    with pytest.raises(MergeError, match=message):
        merge(text, WIRING)


def test_a_route_to_alertreflex_deeper_in_the_tree_is_refused() -> None:
    """A nested route that already sends to alertreflex: the merge would send alerts
    twice, so it says where that route is instead."""
    text = layout().replace(
        '      matchers: [severity="critical"]\n',
        '      matchers: [severity="critical"]\n      routes:\n        - receiver: alertreflex\n',
    )
    with pytest.raises(MergeError, match=r"line 10: route.routes\[0\].routes\[0\] already sends"):
        merge(text, WIRING)


def test_a_merge_that_would_read_differently_is_never_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The merged text is parsed again and must read as the original plus exactly the
    added parts: a slip in the text edits (simulated) is an error, not a file."""
    real = alertmanager_merge._apply
    monkeypatch.setattr(
        alertmanager_merge,
        "_apply",
        lambda text, edits: real(text, edits).replace("  - name: pager\n", ""),
    )
    with pytest.raises(MergeError, match="would not read as the original"):
        merge(layout(), WIRING)


# --- any option text -----------------------------------------------------------------


def text(max_size: int = 12) -> st.SearchStrategy[str]:
    # Every code point but lone surrogates (no UTF-8 file can hold those).
    return st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=max_size)


@settings(max_examples=60, deadline=None)
@given(receiver=text(), url_path=text(), credentials=text())
def test_any_receiver_name_and_values_merge_and_read_back(
    receiver: str, url_path: str, credentials: str
) -> None:
    """Whatever the receiver's name and values, the merged production file reads as the
    original plus exactly those values, and merging again changes nothing."""
    w = Wiring(
        url=f"http://h/{url_path}",
        receiver=receiver,
        auth="bearer",
        credentials_file=credentials,
        username="",
        matchers=('a="' + receiver.replace("\\", "\\\\").replace('"', '\\"') + '"',),
        group_by=("...",),
        group_wait="0s",
        group_interval="30s",
        repeat_interval=None,
    )
    original = (CONFIGS / "production.yml").read_text()
    if receiver in {r["name"] for r in yaml.safe_load(original)["receivers"]}:
        return
    merged = merge(original, w)
    doc = yaml.safe_load(merged.text)
    assert doc["receivers"][-1]["name"] == receiver
    assert doc["receivers"][-1]["webhook_configs"][0]["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": credentials,
    }
    assert doc["route"]["routes"][0]["matchers"] == list(w.matchers)
    assert added_lines_only(original, merged.text)
    assert merge(merged.text, w).changed is False
