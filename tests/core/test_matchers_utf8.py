"""UTF-8 label names in matchers (Alertmanager 0.27+, Prometheus 3), and RE2 matching.

Debian's amtool is Alertmanager 0.25, which predates the UTF-8 syntax, so these cases
are not differential: they come from Alertmanager's grammar and its own test tables
(``matcher/parse/parse_test.go``, ``matcher/compliance/compliance_test.go``) and from
its fallback rule (``matcher/compat/parse.go``: the classic result whenever the classic
parser accepts the text, else the UTF-8 parser's). test_matchers_amtool.py pins the
classic syntax and the regex semantics against amtool itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

# _compile_regex and _re2_search: the string fast paths checked against RE2 itself.
from alertreflex.core.matchers import (
    Matcher,
    MatcherError,
    MatchOp,
    _compile_regex,
    _re2_search,
    format_label_name,
    format_matchers,
    parse_matcher,
    parse_matchers,
    quote_string,
)
from tests.conftest import run_cli

EQ, NE, RE, NRE = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX, MatchOp.NOT_REGEX


# --------------------------------------------------------------- Alertmanager's table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # matcher/parse/parse_test.go, TestMatchers: inputs the classic parser refuses.
        ('{"foo"="bar"}', [("foo", EQ, "bar")]),
        ('{"foo"="bar",}', [("foo", EQ, "bar")]),
        ('{"foo"!="bar"}', [("foo", NE, "bar")]),
        ('{"foo"=~"[a-z]+"}', [("foo", RE, "[a-z]+")]),
        ('{"foo"!~"[a-z]+"}', [("foo", NRE, "[a-z]+")]),
        ('{"foo"="🙂"}', [("foo", EQ, "🙂")]),
        ('{"foo"="\\xf0\\x9f\\x99\\x82"}', [("foo", EQ, "🙂")]),
        ('{"foo"="\\U0001f642"}', [("foo", EQ, "🙂")]),
        ('{"foo"="🙂bar"}', [("foo", EQ, "🙂bar")]),
        ('{"foo"="bar\\n"}', [("foo", EQ, "bar\n")]),
        ('{"foo"="bar\\t"}', [("foo", EQ, "bar\t")]),
        ('{"foo"="\\"bar\\""}', [("foo", EQ, '"bar"')]),
        ('{"foo"="bar\\\\"}', [("foo", EQ, "bar\\")]),
        ('"foo"="bar"', [("foo", EQ, "bar")]),
        ('"foo"="bar",', [("foo", EQ, "bar")]),
        # compliance_test.go: an unquoted name outside the classic alphabet.
        ('{name-with-dashes = "bar"}', [("name-with-dashes", EQ, "bar")]),
        # OpenTelemetry-style names, as Prometheus 3 stores them.
        ('{"service.name"="checkout"}', [("service.name", EQ, "checkout")]),
        ("service.name=checkout", [("service.name", EQ, "checkout")]),
        (
            '{"http.response.status_code"=~"5..", "k8s.namespace.name"!=""}',
            [("http.response.status_code", RE, "5.."), ("k8s.namespace.name", NE, "")],
        ),
        ('{"Größe"="groß", "名前"="値"}', [("Größe", EQ, "groß"), ("名前", EQ, "値")]),
        (
            '{"a b"="c", "a\\"b"="d", "a\\\\b"="e"}',
            [("a b", EQ, "c"), ('a"b', EQ, "d"), ("a\\b", EQ, "e")],
        ),
        ('"x"="\\101\\x42\\u0043\\a\\b\\f\\r\\v"', [("x", EQ, "ABC\a\b\f\r\v")]),
        ('{"x"="a\tb"}', [("x", EQ, "a\tb")]),  # a raw tab is fine, a raw newline is not
        # Whitespace means nothing between tokens, even around the braces.
        (' {a="b"}', [("a", EQ, "b")]),
        ('{a="b"} ', [("a", EQ, "b")]),
        ('\u3000{\u00a0"a"\u2028=\u2029"b"\u0085}', [("a", EQ, "b")]),
        ("{}", []),
    ],
)
def test_utf8_syntax(text: str, expected: list[tuple[str, MatchOp, str]]) -> None:
    """Texts in Alertmanager's UTF-8 syntax give the matchers its parser gives."""
    assert parse_matchers(text) == [Matcher(n, op, v) for n, op, v in expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Both parsers accept these but disagree: Alertmanager uses the classic result.
        ('{foo="bar\\t"}', ("foo", EQ, "bar\\t")),
        ('{foo="bar\\w"}', ("foo", EQ, "bar\\w")),
        ("{foo=bar}", ("foo", EQ, "bar")),
        # The UTF-8 parser alone refuses these; the classic parser reads them.
        ("{foo=bar baz}", ("foo", EQ, "bar baz")),
        ("{foo=bar\\n}", ("foo", EQ, "bar\n")),
        ("{foo=}", ("foo", EQ, "")),
        ("tricky=~~~", ("tricky", RE, "~~")),
        ("eq==x", ("eq", EQ, "=x")),
    ],
)
def test_classic_reading_wins(text: str, expected: tuple[str, MatchOp, str]) -> None:
    """What the classic parser accepts means what it always meant (fallback mode)."""
    assert parse_matchers(text) == [Matcher(*expected)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"foo"="\\xf0\\x9f"}', "the quoted string at position 7 is not valid UTF-8"),
        ('{"foo"="bar\\w"}', "invalid escape sequence \\w at position 11"),
        ('{"foo"="bar\\\'"}', "invalid escape sequence \\' at position 11"),
        ('{"foo"="\\x4"}', "invalid escape \\x at position 8: 2 hex digits needed"),
        ('{"foo"="\\uD800"}', "U+D800 is no character"),
        ('{"foo"="\\400"}', "invalid octal escape at position 8"),
        ('{"foo"="a\nb"}', "raw newline at position 9 in a quoted string: write \\n"),
        ('{"foo"=:"bar"}', "unexpected '\"bar\"' at position 8: expected ',' or '}'"),
        ('{"foo"="bar"', "the '{' at position 0 is never closed"),
        ('"foo"="bar"}', "'}' at position 11 closes no '{'"),
        ('{"foo"="bar"}}', "unexpected '}' at position 13 after the closing '}'"),
        ('{"foo"}', "unexpected '}' at position 6: expected an operator"),
        ('{"foo"=}', "unexpected '}' at position 7: expected a value after '='"),
        ('{"foo"="bar", , }', "unexpected ',' at position 14: expected a label name (two commas"),
        ('{""="bar"}', "empty label name at position 1"),
        ("{'foo'=\"bar\"}", "single quotes do not quote in matchers: use double quotes"),
        ('{"foo"~"bar"}', "unexpected '~' at position 6: '~' only follows '=' or '!'"),
        ('{"foo"!"bar"}', "'!' at position 6 must be followed by '=' or '~'"),
        ('{"foo"="bar}', "unterminated quoted string starting at position 7"),
        (
            '{"foo"="bar\\"}',
            'unterminated quoted string starting at position 7 (an escaped \\" does not',
        ),
        ('{"foo"=~"("}', "bad regex: missing ), unterminated subpattern at position 0"),
        (
            '{"foo"=="bar"}',
            "bad operator '==' at position 6: Alertmanager matchers use a single '='",
        ),
        ('{"foo" !== "bar"}', "bad operator '!==' at position 7: write '!=' (\"foo\"!=\"bar\")"),
        ('{"foo"=~~"bar"}', "bad operator '=~~' at position 6: write '=~' (\"foo\"=~\"bar\")"),
    ],
)
def test_utf8_errors_say_what_and_where(text: str, fragment: str) -> None:
    """A text in UTF-8 syntax that is wrong gets the UTF-8 parser's diagnosis, with the
    position, rather than the classic parser's "invalid label name"."""
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert fragment in caught.value.reason
    assert "invalid label name" not in str(caught.value)


def test_classic_errors_stay_classic() -> None:
    """A text that is classic syntax gets the classic diagnosis."""
    with pytest.raises(MatcherError, match="unterminated quoted value starting at position 5"):
        parse_matchers('{foo="bar}')


# ------------------------------------------------------------------- one matcher


def test_parse_matcher_takes_utf8_names_but_no_braces() -> None:
    """parse_matcher reads one UTF-8 matcher, refuses braces and several matchers, as
    Alertmanager's single-matcher fallback parser does."""
    assert parse_matcher('"service.name"=~"check.*"') == Matcher("service.name", RE, "check.*")
    assert parse_matcher("service.name = checkout") == Matcher("service.name", EQ, "checkout")
    with pytest.raises(MatcherError, match="braces may only surround a whole list"):
        parse_matcher('{"service.name"="checkout"}')
    with pytest.raises(MatcherError, match="expected one matcher, found 2"):
        parse_matcher('"a"="b","c"="d"')
    with pytest.raises(MatcherError, match="bad operator '==' at position 15"):
        parse_matcher('"service.name" == "checkout"')


# ------------------------------------------------------------------------ printing


@pytest.mark.parametrize(
    ("matcher", "printed"),
    [
        (Matcher("job", EQ, "api"), 'job="api"'),
        (Matcher("ns:sub_name", RE, "a|b"), 'ns:sub_name=~"a|b"'),
        (Matcher("service.name", EQ, "checkout"), '"service.name"="checkout"'),
        (Matcher("a b", NE, ""), '"a b"!=""'),
        (Matcher('q"uo\\te\n', NRE, 'x"\\\n'), '"q\\"uo\\\\te\\n"!~"x\\"\\\\\\n"'),
        (Matcher("1st", EQ, "x"), '"1st"="x"'),
        (Matcher("名前", EQ, "値"), '"名前"="値"'),
    ],
)
def test_utf8_names_are_printed_quoted(matcher: Matcher, printed: str) -> None:
    """A name outside the classic alphabet is printed double-quoted, so that both
    Alertmanager 0.27+ and PromQL in Prometheus 3 read it; classic names stay bare."""
    assert str(matcher) == printed
    assert parse_matcher(printed) == matcher
    assert parse_matchers("{" + printed + "}") == [matcher]


def test_format_label_name_and_quote_string() -> None:
    """The two helpers print label names and values as matchers write them."""
    assert format_label_name("alertname") == "alertname"
    assert format_label_name("service.name") == '"service.name"'
    assert quote_string('a"b\\c\nd\te') == '"a\\"b\\\\c\\nd\te"'


names = st.text(min_size=1)  # hypothesis leaves lone surrogates out by default
values = st.text()


@given(name=names, value=values, op=st.sampled_from([EQ, NE]))
def test_any_name_and_value_round_trip(name: str, value: str, op: MatchOp) -> None:
    """parse_matcher(str(m)) == m for any non-empty name and any value."""
    m = Matcher(name, op, value)
    assert parse_matcher(str(m)) == m
    assert m.matches({name: value}) is (op is EQ)


@given(st.lists(st.tuples(names, st.sampled_from([EQ, NE]), values), max_size=4))
def test_any_list_round_trips(items: list[tuple[str, MatchOp, str]]) -> None:
    """parse_matchers(format_matchers(ms)) == ms, classic and UTF-8 names mixed."""
    ms = [Matcher(n, op, v) for n, op, v in items]
    assert parse_matchers(format_matchers(ms)) == ms


# ----------------------------------------------------------------- RE2 matching


def test_backtracking_regex_costs_nothing() -> None:
    """(a+)+$ against 'aaa...ab' takes exponential time in a backtracking engine (12 s
    for 28 a's with Python's re here); RE2's time is linear in the value."""
    m = Matcher("x", RE, "(a+)+$")
    started = time.perf_counter()
    for n in (28, 1_000, 100_000):
        assert not m.matches({"x": "a" * n + "b"})
    assert m.matches({"x": "a" * 100_000})
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("regex", "value", "expected"),
    [
        ("\\pL+", "Größe", True),
        ("\\pL+", "abc1", False),
        ("\\p{Greek}+", "αβγ", True),
        ("\\P{Greek}", "a", True),
        ("\\p{^Greek}", "\u03b1", False),
        ("[\\p{Han}\\d]+", "漢字1", True),
        ("(?i)\\p{Lu}", "a", True),
        ("\\pN", "٣", True),
    ],
)
def test_unicode_classes(regex: str, value: str, expected: bool) -> None:
    """Go's Unicode classes (\\pL, \\p{Greek}, \\P{...}, \\p{^...}) work, as in RE2."""
    assert Matcher("x", RE, regex).matches({"x": value}) is expected


def test_unknown_unicode_class_is_refused_with_its_position() -> None:
    """An unknown class name is a config error that says where."""
    with pytest.raises(MatcherError, match=r"unknown Unicode class '\\p\{Klingon\}' at position 2"):
        Matcher("x", RE, "a+\\p{Klingon}")


def test_values_that_are_not_utf8_do_not_break_matching() -> None:
    """A value with a lone surrogate (no JSON payload can carry one) matches nothing
    odd and raises nothing."""
    assert Matcher("x", RE, "a.+").matches({"x": "a\udc80"}) in (True, False)
    assert not Matcher("x", RE, "b.+").matches({"x": "a\udc80"})


def test_long_values_are_matched_too() -> None:
    """Values longer than the remembered ones go to RE2 each time, with the same result."""
    m = Matcher("x", RE, "[a-z]+-[0-9]+")
    for _ in range(2):
        assert m.matches({"x": "a" * 500 + "-1"})
        assert not m.matches({"x": "a" * 500 + "-x"})


_LITERAL = st.text(alphabet="ab\n-é", max_size=3)
_AFFIXED = st.tuples(st.booleans(), _LITERAL, st.booleans()).map(
    lambda t: (".*" if t[0] else "") + t[1] + (".*" if t[2] else "")
)


@given(
    regex=st.lists(_AFFIXED, min_size=1, max_size=3).map("|".join),
    value=st.text(alphabet="ab\n-é", max_size=6),
)
def test_string_fast_paths_equal_re2(regex: str, value: str) -> None:
    """Literal alternatives with .* affixes, matched by string operations, give what
    RE2 gives for ^(?:regex)$ (the .* stopping at newlines included)."""
    fast, _ = _compile_regex(regex)
    assert fast(value) is _re2_search(regex)(value)


# --------------------------------------------------------- config and test --labels


def test_reflexes_and_test_labels_take_utf8_names(tmp_path: Path) -> None:
    """A reflex may match on UTF-8 label names, and `alertreflex test --labels` takes
    them in Alertmanager's syntax."""
    config = tmp_path / "alertreflex.yml"
    config.write_text(
        """\
reflexes:
  - name: otel-checkout
    team: shop
    match: ['"service.name"="checkout"', 'http.route=~"/cart.*"']
    on_firing:
      - exec: {command: [echo, "{{ alert.labels['service.name'] }}"], timeout: 5s}
""",
        encoding="utf-8",
    )
    labels = '{team="shop", "service.name"="checkout", "http.route"="/cart/items"}'
    r = run_cli("test", "--config", str(config), "--labels", labels, "--json")
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)
    assert result["labels"]["service.name"] == "checkout"
    (reflex,) = result["reflexes"]
    assert reflex["reflex"] == "otel-checkout"
    assert reflex["steps"][0]["params"]["command"] == ["echo", "checkout"]
    other = labels.replace("/cart/items", "/pay")
    r = run_cli("test", "--config", str(config), "--labels", other, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["reflexes"] == []
