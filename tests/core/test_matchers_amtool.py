"""Differential tests of the matchers against the real ``amtool`` (Alertmanager's Go code).

Debian's amtool is Alertmanager 0.25 (Go 1.19): it has the classic parser only, so these
tests pin the classic syntax and the regex semantics exactly. Where amtool refuses a
text that alertreflex accepts, the text must be UTF-8 syntax, which Alertmanager reads
from 0.27 on (see test_matchers_utf8.py, written from Alertmanager's grammar).

How amtool is asked: a routing tree with one route per text (``amtool config routes``
prints each route's matchers as Alertmanager parsed and sorted them), and
``amtool config routes test LABELS`` for what an alert's labels match (labels given as
``name="value"`` are read by the classic single-matcher parser).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

# _Utf8Parser: the UTF-8 path alone, for texts amtool 0.25 cannot read.
from alertreflex.core.matchers import (
    Matcher,
    MatcherError,
    MatchOp,
    _Problem,
    _Utf8Parser,
    format_label_name,
    format_matchers,
    parse_matcher,
    parse_matchers,
)
from alertreflex.demo.stack import install_hint

EQ, RE = MatchOp.EQUAL, MatchOp.REGEX
T = TypeVar("T")
R = TypeVar("R")
_ORDER = list(MatchOp)
# One route line of `amtool config routes`: "    ├── {a="b"}  continue: true  receiver: r3"
_ROUTE = re.compile(r"\A    [├└]── (.*)  continue: true  receiver: r(\d+)\Z", re.DOTALL)


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run amtool; its output decoded as is (text mode would turn a value's \r into \n)."""
    if shutil.which("amtool") is None:
        pytest.fail(f"these tests need amtool: {install_hint('amtool')}")
    done = subprocess.run(["amtool", *args], capture_output=True, timeout=60, check=False)
    out, err = done.stdout.decode(), done.stderr.decode()
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


def routing_config(path: Path, routes: Sequence[Sequence[str]]) -> Path:
    """An Alertmanager config routing to r0, r1, ... (all that match) by these matchers."""
    config = {
        "route": {
            "receiver": "default",
            "routes": [
                {"receiver": f"r{i}", "continue": True, "matchers": list(texts)}
                for i, texts in enumerate(routes)
            ],
        },
        "receivers": [{"name": "default"}] + [{"name": f"r{i}"} for i in range(len(routes))],
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=False), encoding="utf-8")
    return path


def amtool_parse(text: str, path: Path) -> str | None:
    """How Alertmanager 0.25 reads a route's ``matchers: [text]``: the sorted list as it
    prints it, or None if it refuses the text."""
    shown = amtool("config", "routes", f"--config.file={routing_config(path, [[text]])}")
    if shown.returncode != 0:
        return None
    # split("\n"), not splitlines(): a value may hold a raw \r or \x85, printed as is.
    lines = [m for line in shown.stdout.split("\n") if (m := _ROUTE.match(line))]
    assert len(lines) == 1, shown.stdout
    printed = lines[0].group(1)
    return "{}" if printed == "default-route" else printed


def alertmanager_form(matchers: Iterable[Matcher]) -> str:
    """Matchers sorted and printed as Alertmanager prints a route's (name, value, type)."""
    ordered = sorted(matchers, key=lambda m: (m.name, m.value, _ORDER.index(m.op)))
    return format_matchers(ordered)


def in_parallel(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """amtool runs at once, four at a time (each call takes ~25 ms of mostly waiting)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(func, items))


def check_lists_against_amtool(texts: Sequence[str], tmp_path: Path) -> int:
    """Each text read by parse_matchers and by amtool; returns how many amtool took."""

    def one(item: tuple[int, str]) -> tuple[str, str | None]:
        i, text = item
        return text, amtool_parse(text, tmp_path / f"list{i}.yml")

    accepted = 0
    for text, theirs in in_parallel(one, list(enumerate(texts))):
        try:
            ours: str | None = alertmanager_form(parse_matchers(text))
        except MatcherError:
            ours = None
        if theirs is not None:
            accepted += 1
            assert ours == theirs, f"{text!r}: alertreflex {ours!r}, Alertmanager {theirs!r}"
        elif ours is not None:
            # Refused by the classic parser but taken here: only as UTF-8 syntax.
            try:
                utf8 = alertmanager_form(_Utf8Parser(text).matchers())
            except _Problem as exc:
                pytest.fail(f"{text!r}: amtool refuses it, alertreflex reads {ours} ({exc})")
            assert ours == utf8, text
    return accepted


# ------------------------------------------------------------------- parsing lists

CLASSIC_LISTS = [
    # Alertmanager's own examples (pkg/labels/parse.go, its parse and compliance tests).
    '{foo = "bar", dings != "bums", }',
    "foo=bar,dings!=bums",
    "foo=bar, dings!=bums",
    '{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
    'statuscode=~"5.."',
    "tricky=~~~",
    'trickier==\\\\=\\=\\"',
    'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
    "{foo=bar}}",
    "{foo=bar}},}",
    "{foo=,bar=}}",
    "job=",
    "{foo=",
    "{foo=}b",
    "{foo='}",
    "{foo=`}",
    "{foo=\\n}",
    "{foo=bar\\n}",
    "{foo=\\t}",
    "{foo=bar\\}",
    "{foo=bar\\\\}",
    '{foo=\\"}',
    '{foo=bar\\"}',
    '{foo="bar,quux", job="job1"}',
    '{foo="bar", baz!~".*quux.*", derp="wat"}',
    "{}",
    "",
    "{,}",
    'job="value',
    'job=value"',
    'trickier==\\\\=\\=\\""',
    'contains_unescaped_quote = foo"bar',
    '{foo=~"invalid[regexp"}',
    '"{foo=\\"bar"}',
    '"foo=\\"bar"',
    "{{foo=",
    # This module's own edge cases.
    'alertname = "BucketTooFull_ORANGE"',
    "severity=~warning|critical",
    'msg="a \\"quoted\\" word"',
    'path="C:\\\\temp"',
    'tab="a\\tb"',
    "trail=back\\",
    "spaced=two words",
    'kept="  padded  "',
    "eq==x",
    "ns:sub_name=1",
    "\r\njob\f=\fapi\r\n",
    "job=api\v",
    "a=b,,c=d",
    ",",
    "{a=b}}}",
    'alertname == "X"',
    'a !== "x"',
    'a=~~"x"',
    'foo ~= "x"',
    "foo<3",
    'foo=~"a)|(b"',
    'foo=~"(?i)x"',
    'foo=~"a{,3}"',
    'foo=~"(a)\\\\1"',
    'foo=~"a(?=b)"',
    'foo=~"a**"',
    'foo=~"\\\\Z"',
    'foo=~"x{1001}"',
    'foo=~"(?P<n>a)(?P<n>b)"',
    'foo=~"[[:nope:]]"',
    'foo=~"\\\\Qabc"',
    'foo=~"a\\\\"',
    "foo=\u00a0x\u00a0",
    "foo=x\u2028",
    "city=Zürich,mood=☺",
    # UTF-8 syntax: amtool 0.25 refuses it, Alertmanager 0.27+ and alertreflex read it.
    '{"service.name"="checkout"}',
    "service.name=checkout",
    ' {a="b"}',
    '{a="b"} ',
    '{"a"="x\\ty"}',
    '"foo"="x"',
    "name-with-dashes = bar",
]


def test_lists_read_as_alertmanager_reads_them(tmp_path: Path) -> None:
    """Every list amtool 0.25 accepts gives the same matchers here, in the same order
    once sorted as Alertmanager sorts a route's matchers; what it refuses is refused
    here too, unless it is UTF-8 syntax."""
    accepted = check_lists_against_amtool(CLASSIC_LISTS, tmp_path)
    assert accepted >= 40  # the corpus exercises acceptance, not only refusals


_PIECES = [
    *("a", "foo", "_x", "ns:x", "1", ".", "-", "é", "x y", " ", "  ", "\t", "\n", "\u00a0"),
    *("=", "!=", "=~", "!~", "==", "~", "!", '"', '\\"', "\\", "\\\\", "\\n", "\\t"),
    *(",", ",", "{", "}", "'", "(", ")", "*", "[a]", "|", "$"),
]


def _random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:  # a likely-valid list, written loosely
        items = []
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(["a", "foo", "_x", "ns:x", "Ab9"])
            op = rng.choice(["=", "!=", "=~", "!~"])
            value = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 4)))
            if rng.random() < 0.6:
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            gap = rng.choice(["", " ", "\t"])
            items.append(f"{gap}{name}{gap}{op}{gap}{value}{gap}")
        text = ",".join(items) + rng.choice(["", ",", ", "])
        return "{" + text + "}" if rng.random() < 0.5 else text
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 10)))


def test_random_lists_agree_with_amtool(tmp_path: Path) -> None:
    """160 seeded random texts over the syntax's tricky characters: quotes, escapes,
    commas, braces, doubled operators and Unicode spaces."""
    rng = random.Random(18)
    texts = list(dict.fromkeys(_random_text(rng) for _ in range(160)))
    accepted = check_lists_against_amtool(texts, tmp_path)
    assert accepted >= 40


# ----------------------------------------------------------- parsing one matcher

SINGLE_MATCHERS = [
    "x=foo",
    'x = "a b"',
    "x=a b ",
    "x=a\\tb",
    'x="a\\tb"',
    'x="a\\"b"',
    'x=a\\"b',
    'x="a\\\\b"',
    'x="a\\nb"',
    "x=",
    'x=""',
    "x==y",
    'x="a"b"',
    'x="a',
    'x=a"',
    "x=a,b",
    "x={b}",
    "x=foo}",
    "\tx\t=\tfoo\t",
    "x=é☺🙂",
    'x == "y"',
    '"x"="y"',
    "x.y=z",
]


def test_single_matchers_read_as_amtool_reads_alert_labels(tmp_path: Path) -> None:
    """amtool reads each ``name=value`` label argument with the classic single-matcher
    parser; parse_matcher reads the same name and value, or refuses the same text
    (unless it is UTF-8 syntax)."""

    def one(item: tuple[int, str]) -> None:
        i, text = item
        try:
            ours: Matcher | None = parse_matcher(text)
        except MatcherError:
            ours = None
        # A route that matches exactly the label parse_matcher read, if amtool can read it.
        classic = ours is not None and ours.op is EQ and format_label_name(ours.name) == ours.name
        pinned = [str(ours)] if classic else ['never="matched"']
        path = routing_config(tmp_path / f"one{i}.yml", [pinned])
        routed = amtool("config", "routes", "test", f"--config.file={path}", text)
        if routed.returncode == 0:
            assert classic and routed.stdout.strip() == "r0", (text, routed.stdout)
        elif ours is not None:
            assert "amtool: error:" in routed.stderr, routed.stderr
            assert ours.op is not EQ or _Utf8Parser(text).single() == ours, text

    in_parallel(one, list(enumerate(SINGLE_MATCHERS)))


# ------------------------------------------------------------------------ matching

REGEXES = [
    # Matched by string operations here: literal alternatives, .* affixes.
    *("warning|critical", "a|", "|", "api|web|db", "Zürich|☺", "a b|c,d"),
    *("db-.*", ".*-prod", ".*", ".*.*", ".*a.*", "a.*|.*b|c"),
    # Matched by RE2.
    *(".+", "5..", "(?i)bucket.*", "[a-z]+-[0-9]+", "(a+)+$", "a{2,3}", "a{,3}", "[^a]"),
    *("\\d+", "\\w+", "\\s", ".*\\bé", "\\bfoo\\b", "\\B", "(?s).*", "(?s)a.b", "(?m)^b$"),
    *("foo$", "(?m)a$\\n.*", "a)|(b", "\\Qa.b\\E", "\\x{263a}\\x41\\101", "(?U)a+"),
    *("[[:alpha:]]+", "[^[:digit:]]+", "[\\d-z]+", "a(?i)b|c", "(?i:a)b", "(?i)[^a]"),
    *("(?i)k", "(?i)straße", "(?i)Σ", "\\pL+", "\\p{Greek}+", "\\PL", "(?i)\\p{Lu}"),
    *("[\\p{Han}\\d]+", "\\p{^Greek}", "^*", "(a{10}){2}", "[一-龥]+", "x*?y"),
]
VALUES = [
    *("", "a", "aa", "aaa", "aaaa", "b", "abc", "xyb", "xyz", "warning", "critical"),
    *("api", "db", "Zürich", "☺", "a b", "c,d", "db-x", "db-\n", "db-", "x-prod"),
    *("x\n-prod", "\n", "a\nb", "foo", "foo\n", "\nfoo", "BucketFull", "BUCKET"),
    *("web-12", "503", "5031", "123", "١٢٣", "café", "caé", " ", "\v", "\u00a0"),
    *("a.b", "axb", "☺AA", "aB", "AB", "C", "A", "K", "k", "\u212a", "STRAẞE", "ς"),
    *("Größe", "αβγ", "abc1", "1-z", "漢字", "a" * 10, "a" * 20, "a" * 30 + "b", "y"),
]


def test_regex_matching_agrees_with_alertmanager(tmp_path: Path) -> None:
    """For each label value (and a missing label), the routes whose ``x=~regex`` and
    ``x!~regex`` match are the same as Alertmanager's (Go's regexp)."""
    matchers = [Matcher("x", op, r) for r in REGEXES for op in (RE, MatchOp.NOT_REGEX)]
    path = routing_config(tmp_path / "regexes.yml", [[str(m)] for m in matchers])
    labels: list[dict[str, str]] = [{"x": v} for v in VALUES] + [{"y": "x is missing"}]

    def one(alert: dict[str, str]) -> None:
        args = [str(Matcher(k, EQ, v)) for k, v in alert.items()]
        routed = amtool("config", "routes", "test", f"--config.file={path}", *args)
        assert routed.returncode == 0, routed.stderr
        theirs = {int(r[1:]) for r in routed.stdout.strip().split(",") if r != "default"}
        ours = {i for i, m in enumerate(matchers) if m.matches(alert)}
        if ours != theirs:
            wrong = sorted(ours ^ theirs)
            pytest.fail(f"{alert}: disagree on {[str(matchers[i]) for i in wrong]}")

    in_parallel(one, labels)


def test_printed_matchers_are_read_back_by_amtool(tmp_path: Path) -> None:
    """str() of a matcher with a classic name is a text Alertmanager 0.25 reads back to
    the same matcher, for values full of quotes, backslashes, newlines and Unicode."""
    values = ['"', "\\", "\\n", "\n", '\\"', "a,b", "}", "{", "  ", "\t", "\r\n", "ü☺🙂", ""]
    for i, value in enumerate(values):
        m = Matcher("lbl", EQ, value)
        assert amtool_parse(str(m), tmp_path / f"p{i}.yml") == format_matchers([m])
