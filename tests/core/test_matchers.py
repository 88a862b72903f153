"""Alertmanager label matchers: parsing, printing, matching and Go RE2 compatibility."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertreflex.core.matchers import (
    LABEL_NAME_PATTERN,
    Matcher,
    MatcherError,
    MatchOp,
    format_matchers,
    parse_matcher,
    parse_matchers,
)

EQ, NE, RE, NRE = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX, MatchOp.NOT_REGEX


def quote_meta(text: str) -> str:
    """Escape like Go's regexp.QuoteMeta."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


# ------------------------------------------------------------------------ semantics


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('job="api"', {"job": "api"}, True),
        ('job="api"', {"job": "api2"}, False),
        ('job="api"', {}, False),
        ('job!="api"', {"job": "api"}, False),
        ('job!="api"', {"job": "web"}, True),
        ('job!="api"', {}, True),
        ('job=~"api|web"', {"job": "web"}, True),
        ('job=~"api|web"', {"job": "db"}, False),
        ('job=~"api|web"', {}, False),
        ('job!~"api|web"', {"job": "web"}, False),
        ('job!~"api|web"', {"job": "db"}, True),
        ('job!~"api|web"', {}, True),
        ('code=~"5.."', {"code": "503"}, True),
        ('code=~"5.."', {"code": "5031"}, False),
        ('code!~"2.."', {"code": "200"}, False),
    ],
)
def test_every_operator(matcher: str, labels: dict[str, str], expected: bool) -> None:
    """Each of =, !=, =~ and !~ matches as in Alertmanager."""
    assert parse_matcher(matcher).matches(labels) is expected


def test_missing_label_is_the_empty_string() -> None:
    """A label that is absent is compared as the empty string."""
    assert parse_matcher('team=""').matches({})
    assert parse_matcher("team=").matches({"other": "x"})
    assert not parse_matcher('team=""').matches({"team": "x"})
    assert parse_matcher('team=""').matches({"team": ""})


def test_not_equal_empty_means_label_present() -> None:
    """team!="" holds only when the label is present and not empty."""
    present = parse_matcher('team!=""')
    assert present.matches({"team": "db"})
    assert not present.matches({})
    assert not present.matches({"team": ""})


def test_regex_empty_and_dot_star_on_missing_labels() -> None:
    """=~"" and =~".*" both match a missing label; =~".+" does not."""
    assert parse_matcher('env=~""').matches({})
    assert not parse_matcher('env=~""').matches({"env": "prod"})
    assert parse_matcher('env=~".*"').matches({})
    assert parse_matcher('env=~".*"').matches({"env": "prod"})
    assert not parse_matcher('env=~".+"').matches({})
    assert not parse_matcher('env!~".*"').matches({})


@pytest.mark.parametrize("value", ["foobar", "xfoo", "foo\n", "\nfoo", "fo"])
def test_regex_is_fully_anchored(value: str) -> None:
    """=~"foo" matches only "foo": not a prefix, a suffix or foo plus a newline."""
    m = parse_matcher('x=~"foo"')
    assert m.matches({"x": "foo"})
    assert not m.matches({"x": value})
    assert parse_matcher('x!~"foo"').matches({"x": value})


def test_dollar_is_end_of_text_as_in_go() -> None:
    """$ inside a regex is the very end (Go), not "before a final newline" (Python)."""
    assert not parse_matcher('x=~"foo$"').matches({"x": "foo\n"})
    assert not parse_matcher(r'x=~"foo$\n"').matches({"x": "foo\n"})
    assert parse_matcher('x=~"(?m)a$\\n.*"').matches({"x": "a\nb"})


def test_dot_does_not_match_newline_unless_s_flag() -> None:
    """Go's . excludes \\n; (?s) makes it match."""
    assert not parse_matcher('x=~"a.b"').matches({"x": "a\nb"})
    assert parse_matcher('x=~"(?s)a.b"').matches({"x": "a\nb"})
    assert not parse_matcher('x=~".*"').matches({"x": "line1\nline2"})


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        ('city="Zürich"', "Zürich", True),
        ('city="Zürich"', "Zurich", False),
        ('mood=~"☺+"', "☺☺☺", True),
        ('name=~"Gr.ße"', "Größe", True),
        ('name=~"(?i)größe"', "GRÖSSE", False),
        ('name=~"(?i)straße"', "STRAẞE", True),
        ("emoji=🙂", "🙂", True),
        ('han=~"[一-龥]+"', "漢字", True),
        (r'x=~"\x{263a}"', "☺", True),
    ],
)
def test_unicode_values(matcher: str, value: str, expected: bool) -> None:
    """Values and regexes are Unicode text, matched per code point."""
    name = parse_matcher(matcher).name
    assert parse_matcher(matcher).matches({name: value}) is expected


def test_perl_classes_are_ascii_as_in_go() -> None:
    """\\d, \\w, \\s and \\b are ASCII-only in Go RE2, unlike Python's defaults."""
    assert parse_matcher(r'x=~"\d+"').matches({"x": "123"})
    assert not parse_matcher(r'x=~"\d+"').matches({"x": "١٢٣"})  # Arabic-Indic digits
    assert not parse_matcher(r'x=~"\w+"').matches({"x": "café"})
    assert not parse_matcher(r'x=~"\s"').matches({"x": "\v"})
    assert not parse_matcher(r'x=~"\s"').matches({"x": "\u00a0"})
    assert parse_matcher(r'x=~".*\bé"').matches({"x": "caé"})


# --------------------------------------------------------------------- parse/print


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('alertname = "BucketTooFull_ORANGE"', "alertname", EQ, "BucketTooFull_ORANGE"),
        ("alertname=BucketTooFull_ORANGE", "alertname", EQ, "BucketTooFull_ORANGE"),
        ('severity=~"warning|critical"', "severity", RE, "warning|critical"),
        ("severity=~warning|critical", "severity", RE, "warning|critical"),
        ("instance!=foo", "instance", NE, "foo"),
        ('instance!~"db-.*"', "instance", NRE, "db-.*"),
        ('msg="a \\"quoted\\" word"', "msg", EQ, 'a "quoted" word'),
        ('msg=a\\"b', "msg", EQ, 'a"b'),
        ('path="C:\\\\temp"', "path", EQ, "C:\\temp"),
        ('lines="one\\ntwo"', "lines", EQ, "one\ntwo"),
        ("lines=one\\ntwo", "lines", EQ, "one\ntwo"),
        ('tab="a\\tb"', "tab", EQ, "a\\tb"),
        ("trail=back\\", "trail", EQ, "back\\"),
        ('empty=""', "empty", EQ, ""),
        ("empty=", "empty", EQ, ""),
        ("spaced=two words", "spaced", EQ, "two words"),
        ('kept="  padded  "', "kept", EQ, "  padded  "),
        ("eq==x", "eq", EQ, "=x"),
        ("tricky=~~~", "tricky", RE, "~~"),
        ("ns:sub_name=1", "ns:sub_name", EQ, "1"),
        ("_x=1", "_x", EQ, "1"),
    ],
)
def test_quoted_and_unquoted_values(text: str, name: str, op: MatchOp, value: str) -> None:
    """Values may be quoted or bare; both decode \\", \\\\ and \\n, other escapes stay."""
    assert parse_matcher(text) == Matcher(name, op, value)


@pytest.mark.parametrize(
    "text",
    [
        'job="api"',
        ' job="api"',
        'job ="api"',
        'job= "api"',
        '  job  =  "api"  ',
        '\tjob\t=\t"api"\n',
        "job = api ",
        "\r\njob\f=\fapi\r\n",
    ],
)
def test_whitespace_around_name_op_and_value(text: str) -> None:
    """Whitespace (Go's ASCII \\s) around each part is ignored."""
    assert parse_matcher(text) == Matcher("job", EQ, "api")


@pytest.mark.parametrize(
    ("matcher", "printed"),
    [
        (Matcher("foo", EQ, "bar"), 'foo="bar"'),
        (Matcher("foo", NE, "bar"), 'foo!="bar"'),
        (Matcher("foo", RE, "bar"), 'foo=~"bar"'),
        (Matcher("foo", NRE, "bar"), 'foo!~"bar"'),
        (Matcher("foo", EQ, "back\\slash"), 'foo="back\\\\slash"'),
        (Matcher("foo", EQ, 'double"quote'), 'foo="double\\"quote"'),
        (Matcher("foo", EQ, "new\nline"), 'foo="new\\nline"'),
        (Matcher("foo", EQ, "tab\tstop"), 'foo="tab\tstop"'),
        (Matcher("foo", EQ, "🙂"), 'foo="🙂"'),
    ],
)
def test_str_is_alertmanagers_canonical_form(matcher: Matcher, printed: str) -> None:
    """str() prints name, operator and the quoted, escaped value like Alertmanager."""
    assert str(matcher) == printed
    assert parse_matcher(printed) == matcher


@pytest.mark.parametrize(
    "value", ['"', "\\", "\\n", "\n", '\\"', "a,b", "}", "{", "  ", "\t", "\r\n", "ü☺🙂", ""]
)
def test_escapes_round_trip(value: str) -> None:
    """parse(str(m)) == m for values full of quotes, backslashes and newlines."""
    for op in MatchOp:
        m = Matcher("lbl", op, quote_meta(value) if op in (RE, NRE) else value)
        assert parse_matcher(str(m)) == m
        assert parse_matchers(format_matchers([m, m])) == [m, m]


def test_parse_matchers_braces_commas_in_quotes_and_trailing_comma() -> None:
    """The braces form splits on commas outside quotes and allows a trailing comma."""
    got = parse_matchers('{alertname="Disk, full", severity=~"warning|critical", }')
    assert got == [
        Matcher("alertname", EQ, "Disk, full"),
        Matcher("severity", RE, "warning|critical"),
    ]
    assert parse_matchers("foo=bar,dings!=bums") == [
        Matcher("foo", EQ, "bar"),
        Matcher("dings", NE, "bums"),
    ]
    assert parse_matchers('{quote="She said: \\"Hi, all\\"", b=c}') == [
        Matcher("quote", EQ, 'She said: "Hi, all"'),
        Matcher("b", EQ, "c"),
    ]
    assert parse_matchers('contains_quote != "\\"" , contains_comma !~ "foo,bar" , ') == [
        Matcher("contains_quote", NE, '"'),
        Matcher("contains_comma", NRE, "foo,bar"),
    ]


@pytest.mark.parametrize("text", ["{}", "", "  ", "{ }", "{\n}"])
def test_empty_list(text: str) -> None:
    """An empty list, with or without braces, gives no matchers."""
    assert parse_matchers(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{foo=bar}}", [Matcher("foo", EQ, "bar}")]),
        ("{foo=bar}},}", [Matcher("foo", EQ, "bar}}")]),
        ("{foo=,bar=}}", [Matcher("foo", EQ, ""), Matcher("bar", EQ, "}")]),
        ("{foo=}b", [Matcher("foo", EQ, "}b")]),
        ("{foo=", [Matcher("foo", EQ, "")]),
        ("{foo='}", [Matcher("foo", EQ, "'")]),
        ("{foo=bar\\}", [Matcher("foo", EQ, "bar\\")]),
        ('{foo=bar\\"}', [Matcher("foo", EQ, 'bar"')]),
    ],
)
def test_parse_matchers_follows_alertmanager_edge_cases(text: str, expected: list[Matcher]) -> None:
    """Only one leading { and one trailing } are stripped, as in Alertmanager's tests."""
    assert parse_matchers(text) == expected


def test_format_matchers() -> None:
    """format_matchers prints the braces form that parse_matchers reads back."""
    ms = [Matcher("a", EQ, "b"), Matcher("c", RE, "d|e")]
    assert format_matchers(ms) == '{a="b",c=~"d|e"}'
    assert parse_matchers(format_matchers(ms)) == ms
    assert format_matchers([]) == "{}"


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty matcher"),
        ('="x"', "missing label name before '=' at position 0"),
        ('  != "x"', "missing label name before '!' at position 2"),
        ("foo", "missing operator after label name 'foo'"),
        ('foo ~= "x"', "bad operator '~=' at position 4: write '=~'"),
        ("foo<3", "bad operator '<' at position 3"),
        ('foo !x "y"', "bad operator '!' at position 4"),
        ('foo="bar', "unterminated quoted value starting at position 4"),
        ('foo="bar\\"', 'its last \\" is escaped'),
        ('foo="', "unterminated quoted value"),
        ('foo=bar"', "unescaped double quote in unquoted value at position 7"),
        ('foo="a"b"', "text after the closing quote at position 6: 'b\"'"),
        ('foo=~"("', "bad regex: missing ), unterminated subpattern at position 0"),
        ('foo=~"a)"', "bad regex: unbalanced parenthesis at position 1"),
        ('foo=~"[a"', "bad regex: missing ], unterminated character set at position 0"),
        ('foo=~"*"', "bad regex: nothing to repeat before '*' at position 0"),
        ('foo=~"z{2,1}"', "bad regex: invalid repeat count '{2,1}'"),
        ('foo=~"(a)\\\\1"', "bad regex: backreference \\1 is not supported by Go RE2"),
        ('foo=~"(a)\\\\1"', "at position 3"),
        ('foo=~"a(?=b)"', "lookahead (?=...) is not supported by Go RE2"),
        ('foo=~"a(?=b)"', "at position 1"),
        ('foo=~"a(?!b)"', "negative lookahead (?!...) is not supported"),
        ('foo=~"(?<=a)b"', "lookbehind (?<=...) is not supported"),
        ('foo=~"(?<!a)b"', "negative lookbehind (?<!...) is not supported"),
        ('foo=~"(?>ab)"', "atomic group (?>...) is not supported"),
        ('foo=~"a*+"', "possessive quantifier '*+' is not supported"),
        ('foo=~"a{2}+"', "possessive quantifier '{2}+' is not supported"),
        ('foo=~"(?P<x>a)(?P=x)"', "backreference (?P=name) is not supported"),
        ('foo=~"(?#note)a"', "comment (?#...) is not supported"),
        ('foo=~"(?(1)a|b)"', "conditional (?(...)...) is not supported"),
        ('foo=~"(?x)a b"', "flag 'x' is not supported by Go RE2"),
        ('foo=~"a\\\\Z"', "\\Z is Python syntax; Go RE2 writes the end of text as \\z"),
        ('foo=~"\\\\u00e9"', "\\u escapes are Python syntax"),
        ('foo=~"\\\\p{Nope}"', "unknown Unicode class '\\p{Nope}' at position 0"),
        ('foo=~"(?P<é>a)"', "invalid named capture '(?P<é>'"),
        ('foo=~"a**"', "invalid nested repetition operator '**'"),
        ('foo=~"\\\\k"', "invalid escape sequence \\k"),
        ('foo=~"a\\\\"', "trailing backslash at end of regex at position 1"),
        ('{foo="x"}', "braces may only surround a whole list of matchers"),
        ('foo-bar="x', "unterminated quoted string starting at position 8"),
        ('"foo"=', "unexpected the end of the text at position 6: expected a value after '='"),
        ('""="x"', "empty label name at position 0"),
        (
            'alertname == "X"',
            "bad operator '==' at position 10: Alertmanager matchers use a single '=' for "
            'equality (alertname="X")',
        ),
        ('a !== "x"', "bad operator '!==' at position 2: write '!=' (a!=\"x\")"),
        ('a=~~"x"', "bad operator '=~~' at position 1: write '=~' (a=~\"x\")"),
        ('"a.b"=="x"', "bad operator '==' at position 5: Alertmanager matchers use a single '='"),
    ],
)
def test_parse_errors_say_what_and_where(text: str, fragment: str) -> None:
    """Each invalid matcher raises MatcherError naming the input and the problem."""
    with pytest.raises(MatcherError) as caught:
        parse_matcher(text)
    message = str(caught.value)
    assert message.startswith(f"invalid matcher {text!r}: ")
    assert fragment in message
    assert caught.value.text == text
    assert fragment in caught.value.reason


def test_error_message_matches_the_documented_shape() -> None:
    """The error reads 'invalid matcher <input>: bad regex: <why>'."""
    expected = "invalid matcher 'foo=~\"(\" ': bad regex: missing ), unterminated subpattern"
    with pytest.raises(MatcherError) as caught:
        parse_matcher('foo=~"(" ')
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a=b,,c=d", "empty matcher at position 4"),
        (",", "empty matcher at position 0"),
        ("{,}", "empty matcher at position 1"),
        ('{a="b", c=~"("}', "bad regex: missing ), unterminated subpattern"),
        ('{a="b", c="d}', "unterminated quoted value starting at position 10"),
        ('{"a"=~"(", b=c}', "bad regex: missing ), unterminated subpattern at position 0"),
    ],
)
def test_parse_matchers_errors_name_the_item_and_the_list(text: str, fragment: str) -> None:
    """An error in a list names the offending item, the list and the position in it."""
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert f" in {text!r}: " in str(caught.value)
    assert fragment in str(caught.value)
    assert caught.value.context == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{a=b}", "unexpected '{' at position 1: expected a label name"),
        ('{"a"="b", c=d e}', "unexpected 'e' at position 14: expected ',' or '}'"),
        ('{"a"="b"', "the '{' at position 0 is never closed with '}'"),
        ('"a"="b"}', "'}' at position 7 closes no '{'"),
        ('{"a"="b"} x', "unexpected 'x' at position 10 after the closing '}'"),
    ],
)
def test_list_structure_errors_name_the_list_and_the_position(text: str, fragment: str) -> None:
    """An error in the structure of a UTF-8 list (braces, commas) names the whole text."""
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert str(caught.value) == f"invalid matcher {text!r}: {caught.value.reason}"
    assert fragment in caught.value.reason


def test_matcher_error_is_a_value_error_and_pickles() -> None:
    """MatcherError subclasses ValueError and survives pickling (for process pools)."""
    with pytest.raises(ValueError, match="invalid matcher"):
        parse_matcher("=")
    err = MatcherError("x", "why", context="{x}")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.text, copy.reason, copy.context, str(copy)) == ("x", "why", "{x}", str(err))


# ------------------------------------------------------------------ construction


def test_matcher_constructor_validates_and_coerces() -> None:
    """Matcher() checks the name, the operator and the regex, and accepts op text."""
    m = Matcher("sev", "=~", "a|b")  # type: ignore[arg-type]
    assert m.op is MatchOp.REGEX
    assert m == Matcher("sev", MatchOp.REGEX, "a|b")
    assert str(Matcher("any name", EQ, "x")) == '"any name"="x"'  # UTF-8 names are fine
    with pytest.raises(MatcherError, match="empty label name"):
        Matcher("", EQ, "x")
    with pytest.raises(MatcherError, match="single '=' for equality"):
        Matcher("a", "==", "x")  # type: ignore[arg-type]
    with pytest.raises(MatcherError, match=r"label name is not valid UTF-8 \(lone surrogate"):
        Matcher("a\udc80", EQ, "x")
    with pytest.raises(MatcherError, match=r"value is not valid UTF-8 \(lone surrogate"):
        Matcher("a", RE, "x\udc80")
    with pytest.raises(MatcherError, match=r"^invalid matcher 'a=~\"\(\"': bad regex"):
        Matcher("a", RE, "(")


def test_compiled_regex_is_not_part_of_equality_or_hash() -> None:
    """Two equal matchers compare and hash equal; the compiled regex is not shown."""
    a, b = Matcher("x", RE, "a+"), parse_matcher('x=~"a+"')
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert Matcher("x", EQ, "a") != Matcher("x", NE, "a")
    assert repr(a) == "Matcher(name='x', op=<MatchOp.REGEX: '=~'>, value='a+')"


def test_matchers_pickle_and_compile_again() -> None:
    """A matcher pickles as its text and matches the same after loading."""
    for m in (Matcher("x", RE, "a+|b"), Matcher("service.name", NRE, "(?i)db-[0-9]+")):
        copy = pickle.loads(pickle.dumps(m))
        assert copy == m
        for value in ("a", "aaa", "b", "DB-12", "db-x", ""):
            assert copy.matches({m.name: value}) is m.matches({m.name: value})


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ('x="a"', {"a"}),
        ('x=""', {""}),
        ('x=~"warning|critical"', {"warning", "critical"}),
        ('x=~"a|"', {"a", ""}),
        ('x=~"a.*"', None),
        ('x=~"a|b+"', None),
        ('x!~"a|b"', None),
        ('x!="a"', None),
    ],
)
def test_exact_values(text: str, values: set[str] | None) -> None:
    """exact_values is the finite set of texts a matcher accepts, or None."""
    assert parse_matcher(text).exact_values == (None if values is None else frozenset(values))


def test_matchop_is_a_str_enum() -> None:
    """MatchOp members are the operator strings themselves."""
    assert [str(op) for op in MatchOp] == ["=", "!=", "=~", "!~"]
    assert MatchOp("!~") is MatchOp.NOT_REGEX


# -------------------------------------------------------------- Go RE2 dialect


@pytest.mark.parametrize(
    ("regex", "value", "expected"),
    [
        ("a{,3}", "a{,3}", True),  # not a repeat in Go: literal text
        ("a{,3}", "aa", False),
        ("a{01}", "a{01}", True),  # leading zero: literal in Go
        ("a{2}", "aa", True),
        ("a{2,}", "aaaa", True),
        ("[[:alpha:]]+", "abcXYZ", True),
        ("[[:alpha:]]+", "abc1", False),
        ("[^[:digit:]]+", "abc", True),
        ("[\\d-z]+", "1-z", True),
        ("\\x{263a}\\x41\\101", "☺AA", True),
        ("\\Qa.b*\\E", "a.b*", True),
        ("\\Qa.b*\\E", "axbb", False),
        ("a(?i)b|c", "aB", True),
        ("a(?i)b|c", "C", True),
        ("(?i:a)b", "AB", False),
        ("(?i)[^a]", "A", False),
        ("(?U)a+", "aaa", True),
        ("(?P<n>a)(?<m>b)", "ab", True),
        ("(?P<n>a)(?P<n>b)", "ab", True),  # Go, unlike Python, takes a name twice
        ("\\bfoo\\b", "foo", True),
        ("\\B", "", True),
        ("^*", "", True),
        ("(?m)^b$", "b", True),
        ("a)|(b", "abc", True),  # Alertmanager pastes the value into ^(?:...)$
        ("a)|(b", "xyb", True),
        ("a)|(b", "xyz", False),
    ],
)
def test_go_re2_syntax_is_honoured(regex: str, value: str, expected: bool) -> None:
    """Regexes mean what Go RE2 makes of ^(?:value)$, not what Python would."""
    assert Matcher("x", RE, regex).matches({"x": value}) is expected


@pytest.mark.parametrize(
    ("regex", "fragment"),
    [
        ("a{1001}", "invalid repeat count '{1001}'"),
        ("(a{100}){11}", "multiply to more than 1000"),
        ("[z-a]", "invalid character class range 'z-a'"),
        ("[[:nope:]]", "invalid character class '[:nope:]'"),
        ("\\Qabc", "\\Q without a closing \\E"),
        ("(?-)", "invalid or unsupported group syntax '(?-)'"),
        ("\\8", "backreference \\8"),
    ],
)
def test_go_re2_rejections(regex: str, fragment: str) -> None:
    """What Go RE2 rejects is rejected, with a message that says why."""
    with pytest.raises(MatcherError) as caught:
        Matcher("x", RE, regex)
    assert fragment in caught.value.reason


def test_nested_counted_repeat_within_limit() -> None:
    """Nested x{n}{m} is fine while the product stays at or under 1000, as in Go.

    RE2 counts ``{0}`` differently from Go and refuses ``((a{600}){0}){2}``, which Go
    accepts; refusing at load (and saying why) is the safe side of that difference.
    """
    assert Matcher("x", RE, "(a{10}){100}").matches({"x": "a" * 1000})
    with pytest.raises(MatcherError, match="RE2 cannot compile it: invalid repetition size"):
        Matcher("x", RE, "((a{600}){0}){2}")


# --------------------------------------------------------------------- properties

names = st.from_regex(LABEL_NAME_PATTERN, fullmatch=True)


@given(name=names, value=st.text())
def test_equal_matcher_round_trips_and_matches(name: str, value: str) -> None:
    """parse_matcher(str(Matcher(name, "=", v))) round-trips and matches {name: v}."""
    m = Matcher(name, MatchOp("="), value)
    back = parse_matcher(str(m))
    assert back == m
    assert back.matches({name: value})
    assert back.matches({}) is (value == "")


@given(name=names, value=st.text())
def test_quoted_literal_regex_matches_exactly_its_text(name: str, value: str) -> None:
    """=~ QuoteMeta(v) matches v and nothing longer, and round-trips through str()."""
    m = Matcher(name, RE, quote_meta(value))
    assert parse_matcher(str(m)) == m
    assert m.matches({name: value})
    assert not m.matches({name: value + "x"})
    assert not m.matches({name: value + "\n"})


@given(st.lists(st.tuples(names, st.sampled_from(list(MatchOp)), st.text()), max_size=5))
def test_matcher_lists_round_trip(items: list[tuple[str, MatchOp, str]]) -> None:
    """parse_matchers(format_matchers(ms)) == ms for any list of matchers."""
    ms = [Matcher(n, op, quote_meta(v) if op in (RE, NRE) else v) for n, op, v in items]
    assert parse_matchers(format_matchers(ms)) == ms


_COMMON_SYNTAX = st.lists(
    st.sampled_from(["a", "b", ".", "*", "+", "?", "|", "(", ")", "[ab]", "[^a]", "{2}", "\\d"]),
    min_size=1,
    max_size=8,
).map("".join)


@given(pattern=_COMMON_SYNTAX, value=st.text(alphabet="ab1\n", max_size=5))
def test_agrees_with_python_where_the_dialects_agree(pattern: str, value: str) -> None:
    """On syntax both engines read alike, matching equals Python's fullmatch."""
    try:
        python = re.compile(pattern, re.ASCII)
    except re.error:
        return
    try:
        m = Matcher("x", RE, pattern)
    except MatcherError as exc:
        reason = exc.reason
    else:
        assert m.matches({"x": value}) is (python.fullmatch(value) is not None)
        return
    assert "possessive quantifier" in reason  # Python 3.11 has them, RE2 does not
