"""Alertmanager label matchers: syntax, semantics and RE2 regular expressions.

A matcher is ``name op value`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``. A list
of matchers is written ``{a="b", c=~"d"}`` (braces optional) and is ANDed by callers.

Which Alertmanager behaviour this follows
-----------------------------------------
Alertmanager 0.27 and later read matchers in "fallback" mode, their default: the
*classic* parser (``pkg/labels/parse.go``) first, and the *UTF-8* parser
(``matchers/parse/``) only for text the classic one refuses. Whenever the classic
parser accepts a text, its result is the one used, even where the UTF-8 parser would
read it differently. This module does the same, so everything written for Alertmanager
0.25 to 0.26 means exactly what it meant, and ``{"service.name"="checkout"}`` works as
in Alertmanager 0.27+ and Prometheus 3, which accept UTF-8 label names.

Classic syntax (``ParseMatcher``, ``ParseMatchers``):

* A label name matches ``[a-zA-Z_:][a-zA-Z0-9_:]*``. Whitespace means Go's ASCII
  ``\\s`` (tab, newline, form feed, carriage return, space) and may surround the name,
  the operator and the value; trailing whitespace after an *unquoted* value is dropped.
* The value may be double-quoted or not. Both forms unescape ``\\"``, ``\\\\`` and
  ``\\n``; any other backslash stays a literal backslash (``\\t`` is backslash + ``t``).
  An unescaped ``"`` may only open and close a quoted value. ``foo=`` is ``foo=""``.
  Unquoted values may contain spaces (``foo=bar baz``) and commas are fine inside quotes.
* In a list, one leading ``{`` and one trailing ``}`` are removed (only those: no
  whitespace is trimmed first), commas outside quotes split matchers, a trailing comma
  is allowed, an empty item between commas is an error, and ``{}`` is no matchers.

UTF-8 syntax (``matchers/parse``), used when the classic parser refuses the text:

* Tokens are ``{``, ``}``, ``,``, an operator, a double-quoted string, or an unquoted
  run of characters other than whitespace (Go's ``unicode.IsSpace``) and
  ``{ } ! = ~ , \\ " ' ` ``. Whitespace between tokens means nothing.
* Name and value may each be quoted or not: ``"service.name"="checkout"``,
  ``service.name=checkout``. A quoted string is read like a Go string literal
  (``strconv.Unquote``): ``\\t``, ``\\u00e9``, ``\\x41`` (bytes, which must form UTF-8),
  octal ``\\101`` and the usual escapes; an unknown escape or a raw newline is an error.
* A list has balanced optional braces, commas between matchers and an optional trailing
  comma; ``parse_matcher`` refuses braces, as Alertmanager's single-matcher parser does.
* One deliberate difference: an empty label name (``""="x"``) is refused. Alertmanager's
  parser takes it, but no alert can carry such a label.

Semantics, from ``matcher.go``:

* A missing label is the empty string, so ``foo=""`` matches when ``foo`` is absent,
  ``foo!=""`` means "foo is present and not empty", and ``foo=~".*"`` matches always.
* ``=~`` and ``!~`` compile ``^(?:VALUE)$``: fully anchored, ``$`` is the very end of
  the text, ``.`` does not match ``\\n`` unless ``(?s)``, and ``\\d``, ``\\w``, ``\\s``,
  ``\\b`` are ASCII-only. Since the value is pasted between ``^(?:`` and ``)$``, a value
  such as ``a)|(b`` is accepted by Alertmanager and means "starts with a, or ends with
  b"; this module reproduces that rather than rejecting it.
* ``str(matcher)`` prints ``name<op>"value"`` with ``\\``, newline and ``"`` escaped; a
  name outside the classic alphabet is quoted the same way (``"service.name"="x"``).
  ``parse_matcher`` reads either back to an equal matcher.

Regular expressions are checked against Go's ``regexp/syntax`` grammar (Perl flags), so
everything Go rejects is rejected with a message that says where, including the
Python-only features people reach for: backreferences (``\\1``, ``(?P=name)``),
lookarounds, atomic groups, possessive quantifiers (``*+``), conditionals, comments,
``\\Z`` and the ``x``/``a``/``u``/``L`` flags. They are then matched by RE2 (the
``google-re2`` package: the C++ library Go's regexp implements), in time linear in the
label value: no regex can make an alert stall the server. Regexes that are only
literal alternatives (``warning|critical``), optionally with a leading or trailing
``.*`` (``db-.*``), are matched with string operations, exactly and faster. RE2 refuses
a few patterns Go accepts: nested counted repeats whose product it counts as over 1000
(``((a{600}){0}){2}``) and programs over its 8 MiB memory budget (``\\pL{1000}``).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = [
    "LABEL_NAME_PATTERN",
    "MatchOp",
    "Matcher",
    "MatcherError",
    "format_label_name",
    "format_matchers",
    "parse_matcher",
    "parse_matchers",
    "quote_string",
]

LABEL_NAME_PATTERN = "[a-zA-Z_:][a-zA-Z0-9_:]*"
"""Label names the classic Alertmanager parser accepts (and prints unquoted)."""

_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)

# Go's \s in RE2 is ASCII: tab, newline, form feed, carriage return, space (no \v).
_WS = "\t\n\f\r "
_MATCHER = re.compile(
    rf"\A[{_WS}]*({LABEL_NAME_PATTERN})[{_WS}]*(=~|=|!=|!~)[{_WS}]*(.*?)[{_WS}]*\Z",
    re.DOTALL,
)
# unicode.IsSpace in Go: strings.TrimSpace on a list's last item, the UTF-8 lexer.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(cp) for cp in range(0x2000, 0x200B)
)
_OPS_TEXT = "=, !=, =~, !~"
# What people type for an operator, and the operator they meant.
_OPERATOR_FIXES = {"==": "=", "===": "=", "!==": "!=", "=~~": "=~", "!~~": "!~", "~=": "=~"}


class MatchOp(enum.StrEnum):
    """The four Alertmanager match operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


_EQUAL, _NOT_EQUAL, _REGEX = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX


class MatcherError(ValueError):
    """A matcher that Alertmanager would not accept, with what is wrong and where.

    ``text`` is the matcher as written, ``reason`` what is wrong with it (positions in
    it count characters from 0), and ``context`` the whole list it came from, if any.
    """

    def __init__(self, text: str, reason: str, context: str | None = None) -> None:
        self.text = text
        self.reason = reason
        self.context = context
        where = f" in {context!r}" if context is not None and context != text else ""
        super().__init__(f"invalid matcher {text!r}{where}: {reason}")

    def __reduce__(self) -> tuple[type[MatcherError], tuple[str, str, str | None]]:
        return (type(self), (self.text, self.reason, self.context))


@dataclass(frozen=True)
class Matcher:
    """One label matcher, validated and (for ``=~``/``!~``) compiled when built.

    ``Matcher("severity", MatchOp.REGEX, "warning|critical")``; the operator may also
    be given as its text (``"=~"``). The name may be any non-empty text, as Prometheus 3
    allows. Raises :class:`MatcherError` for an empty name, an unknown operator or a
    regex that Alertmanager's Go RE2 would reject.
    """

    name: str
    op: MatchOp
    value: str
    _search: Callable[[str], bool] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _values: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            op = MatchOp(self.op)
        except ValueError:
            bad = str(self.op)
            shown = f"{format_label_name(self.name)}{bad}{quote_string(self.value)}"
            raise MatcherError(shown, f"bad operator {bad!r}: {_op_advice(bad)}") from None
        object.__setattr__(self, "op", op)
        if not self.name:
            raise MatcherError(str(self), "empty label name")
        for what, text in (("label name", self.name), ("value", self.value)):
            at = _surrogate_at(text)
            if at is not None:
                reason = f"{what} is not valid UTF-8 (lone surrogate at position {at})"
                raise MatcherError(str(self), reason)
        if op is _EQUAL:
            object.__setattr__(self, "_values", frozenset((self.value,)))
        elif op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                search, values = _compile_regex(self.value)
            except _RegexProblem as exc:
                raise MatcherError(str(self), f"bad regex: {exc}") from None
            object.__setattr__(self, "_search", search)
            if op is _REGEX:
                object.__setattr__(self, "_values", values)

    def __reduce__(self) -> tuple[type[Matcher], tuple[str, str, str]]:
        # The compiled regex is rebuilt from the text, never pickled.
        return (type(self), (self.name, self.op.value, self.value))

    @property
    def exact_values(self) -> frozenset[str] | None:
        """The label values this matcher accepts, when they are a finite set of literal
        texts (``=``, or ``=~`` of literal alternatives such as ``A|B``); else None."""
        return self._values

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels satisfy this matcher; a missing label counts as ""."""
        value = labels.get(self.name, "")
        op = self.op  # compared with module aliases: Enum attribute lookups are slow on 3.11
        if op is _EQUAL:
            return value == self.value
        if op is _NOT_EQUAL:
            return value != self.value
        assert self._search is not None
        found = self._search(value)
        return found if op is _REGEX else not found

    def __str__(self) -> str:
        return f"{format_label_name(self.name)}{self.op}{quote_string(self.value)}"


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """Render matchers as Alertmanager prints a list: ``{a="b",c=~"d"}``."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def format_label_name(name: str) -> str:
    """A label name as matchers write it: bare if classic, else double-quoted."""
    return name if _LABEL_NAME.fullmatch(name) else quote_string(name)


def quote_string(text: str) -> str:
    """``text`` in double quotes with ``\\``, newline and ``"`` escaped, as Alertmanager
    prints values; both of its parsers read it back to ``text``."""
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``severity=~"warning|critical"``, ``instance!=foo`` or
    ``"service.name"="checkout"``."""
    try:
        return _parse_one(text, 0)
    except _Problem as classic:
        try:
            return _Utf8Parser(text).single()
        except _Problem as utf8:
            raise MatcherError(text, str(utf8 if classic.about_name else classic)) from None


def parse_matchers(text: str) -> list[Matcher]:
    """Parse ``{a="b", c=~"d"}`` (braces optional, trailing comma allowed) into matchers.

    Classic syntax first; the UTF-8 syntax (``{"service.name"="checkout"}``) for a text
    the classic parser refuses, as Alertmanager 0.27+ does.
    """
    try:
        return _classic_list(text)
    except _Problem as classic:
        try:
            return _Utf8Parser(text).matchers()
        except _Problem as utf8:
            # Report the UTF-8 parser's view when the text is UTF-8 syntax, which the
            # classic parser only sees as a bad label name.
            chosen = utf8 if classic.about_name else classic
            piece = text if chosen.piece is None else chosen.piece
            raise MatcherError(piece, str(chosen), context=text) from None


# ------------------------------------------------------------------ shared helpers


class _Problem(Exception):
    """What is wrong with a matcher text; positions are already absolute.

    ``piece`` is the item of a list it is about (None: the whole text), and
    ``about_name`` says the classic parser stumbled on a label name, which is where
    UTF-8 syntax differs from it.
    """

    def __init__(self, reason: str, *, piece: str | None = None, about_name: bool = False):
        super().__init__(reason)
        self.piece = piece
        self.about_name = about_name


def _surrogate_at(text: str) -> int | None:
    for i, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            return i
    return None


def _op_advice(bad: str) -> str:
    fix = _OPERATOR_FIXES.get(bad)
    if fix == "=":
        return "Alertmanager matchers use a single '=' for equality"
    if fix is not None:
        return f"write {fix!r}"
    return f"expected one of {_OPS_TEXT}"


def _bad_operator(run: str, at: int, name: str, rest: str) -> str:
    """Explain an operator such as ``==`` at ``at``, with the matcher written right."""
    fix = _OPERATOR_FIXES.get(run)
    example = f" ({name}{fix}{rest.strip(_WS)})" if fix is not None and rest.strip(_WS) else ""
    return f"bad operator {run!r} at position {at}: {_op_advice(run)}{example}"


# ------------------------------------------------------------------ classic syntax


def _classic_list(text: str) -> list[Matcher]:
    start = 0
    body = text
    if body.startswith("{"):
        body = body[1:]
        start = 1
    body = body.removesuffix("}")

    # Split on commas outside double quotes, exactly like Alertmanager's loop: a
    # backslash toggles "escaped", which only protects a following quote.
    pieces: list[tuple[int, str]] = []
    in_quotes = escaped = False
    piece_start = 0
    for i, ch in enumerate(body):
        if ch == ",":
            if not in_quotes:
                pieces.append((start + piece_start, body[piece_start:i]))
                piece_start = i + 1
        elif ch == '"':
            if escaped:
                escaped = False
            else:
                in_quotes = not in_quotes
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
    last = body[piece_start:]
    trimmed = last.strip(_GO_SPACE)
    if trimmed:
        lead = len(last) - len(last.lstrip(_GO_SPACE))
        pieces.append((start + piece_start + lead, trimmed))

    matchers: list[Matcher] = []
    for offset, piece in pieces:
        if not piece.strip(_WS):
            reason = f"empty matcher at position {offset} (two commas in a row?)"
            raise _Problem(reason, piece=piece)
        try:
            matchers.append(_parse_one(piece, offset))
        except _Problem as exc:
            raise _Problem(str(exc), piece=piece, about_name=exc.about_name) from None
    return matchers


def _classic_name_problem(name: str) -> str:
    hint = ""
    if name.startswith("{") or name.endswith("}"):
        hint = " (braces may only surround a whole list of matchers)"
    return f"invalid label name {name!r}{hint}: a label name must match {LABEL_NAME_PATTERN}"


def _parse_one(text: str, offset: int) -> Matcher:
    found = _MATCHER.match(text)
    if found is None:
        raise _diagnose(text, offset)
    name, op, raw = found.group(1), found.group(2), found.group(3)
    try:
        value = _unescape(raw, offset + found.start(3))
    except _Problem:
        if raw[:1] in ("=", "~", "!"):  # alertname == "X": the second '=' opened the value
            run = op + raw[: len(raw) - len(raw.lstrip("=~!"))]
            rest = raw[len(run) - len(op) :]
            raise _Problem(_bad_operator(run, offset + found.start(2), name, rest)) from None
        raise
    try:
        return Matcher(name, MatchOp(op), value)
    except MatcherError as exc:
        raise _Problem(exc.reason) from None


def _diagnose(text: str, offset: int) -> _Problem:
    """Explain why ``text`` is not ``name op value``."""
    n = len(text)
    i = 0
    while i < n and text[i] in _WS:
        i += 1
    if i == n:
        return _Problem("empty matcher")
    j = i
    while j < n and text[j] not in _WS and text[j] not in "=!~<>":
        j += 1
    word = text[i:j]
    if not word:
        return _Problem(f"missing label name before {text[i]!r} at position {offset + i}")
    if not _LABEL_NAME.fullmatch(word):
        return _Problem(
            f"{_classic_name_problem(word)} (at position {offset + i})", about_name=True
        )
    k = j
    while k < n and text[k] in _WS:
        k += 1
    if k == n:
        return _Problem(f"missing operator after label name {word!r}: expected one of {_OPS_TEXT}")
    end = k
    while end < n and end < k + 3 and text[end] in "=!~<>":
        end += 1
    bad = text[k:end] or text[k]
    return _Problem(f"bad operator {bad!r} at position {offset + k}: {_op_advice(bad)}")


def _unescape(raw: str, at: int) -> str:
    """Decode a value as Alertmanager's classic parser does; ``at`` is where it starts."""
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
        at += 1
    bad = _surrogate_at(raw)
    if bad is not None:
        raise _Problem(f"value is not valid UTF-8 (lone surrogate) at position {at + bad}")
    out: list[str] = []
    escaped = False
    closed = False
    last = len(raw) - 1
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in '"\\':
                out.append(ch)
            else:
                out.append("\\" + ch)  # a spurious escape keeps its backslash
        elif ch == "\\":
            if i < last:
                escaped = True
            else:
                out.append("\\")
        elif ch == '"':
            if not quoted:
                raise _Problem(
                    f"unescaped double quote in unquoted value at position {at + i} "
                    '(quote the whole value, or write \\")'
                )
            if i < last:
                raise _Problem(
                    f"text after the closing quote at position {at + i}: {raw[i + 1 :]!r}"
                )
            closed = True
        else:
            out.append(ch)
    if quoted and not closed:
        hint = ' (its last \\" is escaped)' if raw.endswith('\\"') else ""
        raise _Problem(f"unterminated quoted value starting at position {at - 1}{hint}")
    return "".join(out)


# --------------------------------------------------------------------- UTF-8 syntax

# Characters that end an unquoted token (Alertmanager's lexer: isReserved).
_RESERVED = frozenset(_GO_SPACE + "{}!=~,\\\"'`")
# Go string-literal escapes that stand for one byte.
_GO_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_HEX = "0123456789abcdefABCDEF"
_SIGNS = {"'": "single quotes do not quote in matchers: use double quotes",
          "`": "backquotes do not quote in matchers: use double quotes",
          "\\": "escapes only work inside double quotes",
          "~": "'~' only follows '=' or '!'"}  # fmt: skip


@dataclass(frozen=True)
class _Token:
    kind: str  # one of "{", "}", ",", "op", "quoted", "bare", "end"
    text: str
    start: int

    def shown(self) -> str:
        return "the end of the text" if self.kind == "end" else repr(self.text)


class _Utf8Parser:
    """Alertmanager's ``matchers/parse`` grammar, read one token ahead."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.ahead: _Token | None = None

    def single(self) -> Matcher:
        text = self.text
        if text.startswith("{") or text.endswith("}"):
            raise _Problem("braces may only surround a whole list of matchers, not one")
        found = self.matchers()
        if len(found) != 1:
            raise _Problem(f"expected one matcher, found {len(found)}")
        return found[0]

    def matchers(self) -> list[Matcher]:
        out: list[Matcher] = []
        brace = self.peek()
        braced = brace.kind == "{"
        if braced:
            self.take()
        while self.peek().kind not in ("}", "end"):
            out.append(self.matcher())
            after = self.peek()
            if after.kind == ",":
                self.take()
            elif after.kind not in ("}", "end"):
                raise _Problem(
                    f"unexpected {after.shown()} at position {after.start}: expected ',' "
                    "or '}' after a matcher (quote values that hold spaces)"
                )
        close = self.take()
        if close.kind == "}" and not braced:
            raise _Problem(f"'}}' at position {close.start} closes no '{{'")
        if close.kind == "end" and braced:
            raise _Problem(f"the '{{' at position {brace.start} is never closed with '}}'")
        end = self.take() if close.kind == "}" else close
        if end.kind != "end":
            raise _Problem(
                f"unexpected {end.shown()} at position {end.start} after the closing '}}'"
            )
        return out

    def matcher(self) -> Matcher:
        name_token = self.take()
        if name_token.kind not in ("quoted", "bare"):
            hint = " (two commas in a row?)" if name_token.kind == "," else ""
            raise _Problem(
                f"unexpected {name_token.shown()} at position {name_token.start}: "
                f"expected a label name{hint}"
            )
        name = self.string(name_token)
        if not name:
            raise _Problem(f"empty label name at position {name_token.start}")
        op = self.take()
        if op.kind != "op":
            raise _Problem(
                f"unexpected {op.shown()} at position {op.start}: expected an operator "
                f"({_OPS_TEXT}) after the label name {name!r}"
            )
        text, after = self.text, op.start + len(op.text)
        if after < len(text) and text[after] in "=~!":  # alertname == "X"
            extra = len(text) - after - len(text[after:].lstrip("=~!"))
            self.pos = after + extra
            rest = self.value_text()
            run = op.text + text[after : after + extra]
            raise _Problem(_bad_operator(run, op.start, name_token.text, rest))
        value_token = self.take()
        if value_token.kind not in ("quoted", "bare"):
            raise _Problem(
                f"unexpected {value_token.shown()} at position {value_token.start}: "
                f"expected a value after {op.text!r}"
            )
        value = self.string(value_token)
        piece = text[name_token.start : value_token.start + len(value_token.text)]
        try:
            return Matcher(name, MatchOp(op.text), value)
        except MatcherError as exc:
            raise _Problem(exc.reason, piece=piece) from None

    def value_text(self) -> str:
        """The value token at pos as written, or "" if there is none (for a hint)."""
        try:
            token = self.peek()
        except _Problem:
            return ""
        return token.text if token.kind in ("quoted", "bare") else ""

    def string(self, token: _Token) -> str:
        return _go_unquote(token.text, token.start) if token.kind == "quoted" else token.text

    # -- lexer

    def peek(self) -> _Token:
        if self.ahead is None:
            self.ahead = self.scan()
        return self.ahead

    def take(self) -> _Token:
        token = self.peek()
        self.ahead = None
        return token

    def scan(self) -> _Token:
        text, i = self.text, self.pos
        n = len(text)
        while i < n and text[i] in _GO_SPACE:
            i += 1
        if i == n:
            self.pos = i
            return _Token("end", "", i)
        ch = text[i]
        kind = "bare"
        if ch in "{},":
            kind, end = ch, i + 1
        elif ch == "=":
            kind, end = "op", i + (2 if text.startswith("=~", i) else 1)
        elif ch == "!":
            if not text.startswith(("!=", "!~"), i):
                raise _Problem(f"'!' at position {i} must be followed by '=' or '~'")
            kind, end = "op", i + 2
        elif ch == '"':
            kind, end = "quoted", self.quoted_end(i)
        elif ch not in _RESERVED:
            end = i + 1
            while end < n and text[end] not in _RESERVED:
                end += 1
        else:
            raise _Problem(f"unexpected {ch!r} at position {i}: {_SIGNS[ch]}")
        self.pos = end
        return _Token(kind, text[i:end], i)

    def quoted_end(self, start: int) -> int:
        text = self.text
        escaped = False
        for j in range(start + 1, len(text)):
            ch = text[j]
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                return j + 1
        hint = ' (an escaped \\" does not close it)' if '\\"' in text[start + 1 :] else ""
        raise _Problem(f"unterminated quoted string starting at position {start}{hint}")


def _go_unquote(token: str, at: int) -> str:
    """Decode a double-quoted token as Go's ``strconv.Unquote``; ``at`` is where it is."""
    body = token[1:-1]
    bad = _surrogate_at(body)
    if bad is not None:
        raise _Problem(f"text is not valid UTF-8 (lone surrogate) at position {at + 1 + bad}")
    if "\\" not in body and "\n" not in body:
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        where = at + 1 + i
        if ch == "\n":
            raise _Problem(f"raw newline at position {where} in a quoted string: write \\n")
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        e = body[i + 1]  # an unescaped backslash never ends the body: it escapes the quote
        if e in _GO_ESCAPES:
            out.append(_GO_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) < width or any(d not in _HEX for d in digits):
                raise _Problem(
                    f"invalid escape \\{e} at position {where}: {width} hex digits needed"
                )
            code = int(digits, 16)
            if e == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise _Problem(f"invalid escape at position {where}: U+{code:X} is no character")
            else:
                out += chr(code).encode()
            i += 2 + width
        elif "0" <= e <= "7":
            digits = body[i + 1 : i + 4]
            if len(digits) < 3 or any(not "0" <= d <= "7" for d in digits) or int(digits, 8) > 255:
                raise _Problem(f"invalid octal escape at position {where}: \\000 to \\377")
            out.append(int(digits, 8))
            i += 4
        else:
            raise _Problem(f"invalid escape sequence \\{e} at position {where}")
    try:
        return out.decode()
    except UnicodeDecodeError:
        raise _Problem(
            f"the quoted string at position {at} is not valid UTF-8 once unescaped (\\x and "
            "octal escapes are bytes, which must form whole UTF-8 characters)"
        ) from None


# -------------------------------------------------------------------- regexes

_PREFIX = "^(?:"  # what Alertmanager's NewMatcher wraps a regex in
_SUFFIX = ")$"
_MAX_REPEAT = 1000  # Go regexp/syntax: largest count in x{n,m}, also as a nested product
_MAX_DEPTH = 1000  # Go regexp/syntax: deepest nesting
_MAX_RUNE = 0x10FFFF
_FLAGS = "imsU"
_PERL_CLASSES = "dDsSwW"
_POSIX_CLASSES = frozenset(
    {
        *("alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print"),
        *("punct", "space", "upper", "word", "xdigit"),
    }
)
_SIMPLE_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
# Characters with a meaning in Go regex syntax outside classes (regexp.QuoteMeta's set),
# but '|': regexes made of literals and '|' are sets of literals.
_META = frozenset("\\.+*?()[]{}^$")

# Python-only group syntax, named so the error says what it is.
_PYTHON_GROUPS = (
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?>", "atomic group (?>...)"),
    ("(?P=", "backreference (?P=name)"),
    ("(?P>", "recursion (?P>name)"),
    ("(?#", "comment (?#...)"),
    ("(?(", "conditional (?(...)...)"),
)


class _RegexProblem(Exception):
    """Why a regex is not valid Go RE2 syntax (the message ends with its position)."""


# Configs repeat the same regexes across many reflexes ("warning|critical"); a
# failing one raises, and lru_cache does not cache exceptions, so errors stay exact.
@functools.lru_cache(maxsize=8192)
def _compile_regex(value: str) -> tuple[Callable[[str], bool], frozenset[str] | None]:
    """A test for ``^(?:value)$`` and, if it is a set of literals, that set."""
    alternatives = value.split("|")
    if not any(ch in _META for ch in value):
        literals = frozenset(alternatives)
        return literals.__contains__, literals
    affixes = _affixes(alternatives)
    if affixes is not None:
        return affixes, None
    _GoSyntax(value).check()
    return _re2_search(value), None


def _affixes(alternatives: list[str]) -> Callable[[str], bool] | None:
    """Match ``a.*|.*b|.*c.*|d`` by string operations, or None for other regexes.

    ``.`` stops at a newline, so a text with one only matches a bare literal.
    """
    shapes: list[tuple[bool, str, bool]] = []
    for alt in alternatives:
        lead = alt.startswith(".*")
        core = alt[2:] if lead else alt
        trail = core.endswith(".*")
        core = core[:-2] if trail else core
        if any(ch in _META for ch in core) or ((lead or trail) and "\n" in core):
            return None
        shapes.append((lead, core, trail))

    def matches(text: str) -> bool:
        flat = "\n" not in text
        for lead, core, trail in shapes:
            if lead and trail:
                if flat and core in text:
                    return True
            elif lead:
                if flat and text.endswith(core):
                    return True
            elif trail:
                if flat and text.startswith(core):
                    return True
            elif text == core:
                return True
        return False

    return matches


def _re2_search(value: str) -> Callable[[str], bool]:
    re2 = _re2()
    try:
        compiled = re2.compile((_PREFIX + value + _SUFFIX).encode(), _re2_options())
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else "unknown error"
        raise _RegexProblem(f"RE2 cannot compile it: {reason}") from None
    search = compiled.search

    def matches(text: str) -> bool:
        if len(text) <= _REMEMBERED_LENGTH:
            return _remembered(run, text)
        return run(text)

    def run(text: str) -> bool:
        # Bytes in, so the wrapper skips its character-offset bookkeeping.
        return search(text.encode("utf-8", "surrogatepass")) is not None

    return matches


# Label values repeat (severity, job, instance) and a call into RE2 costs ~1.5 us
# against ~0.1 us for a hit here; short values only, so the memory stays ~1 MiB.
_REMEMBERED_LENGTH = 128


@functools.lru_cache(maxsize=4096)
def _remembered(run: Callable[[str], bool], text: str) -> bool:
    return run(text)


@functools.cache
def _re2() -> Any:
    # Imported on first need: a config whose regexes are all literal does without it.
    import re2  # type: ignore[import-untyped]

    return re2


@functools.cache
def _re2_options() -> Any:
    options = _re2().Options()
    options.log_errors = False  # errors are raised with their message, not logged
    options.never_capture = True  # only "does it match" is asked
    return options


@functools.lru_cache(maxsize=256)
def _unicode_class_known(name: str) -> bool:
    """Whether ``\\p{name}`` names a Unicode class (category, script or Any)."""
    re2 = _re2()
    try:
        re2.compile(f"\\p{{{name}}}".encode(), _re2_options())
    except re2.error:
        return False
    return True


@dataclass
class _Frame:
    open_at: int
    inner: int = 1  # largest product of counted repeats inside (Go's repeatIsValid)


class _GoSyntax:
    """Check ``^(?:value)$`` against Go's ``regexp/syntax`` grammar with Perl flags.

    Raises :class:`_RegexProblem` for what Go refuses, with the position in ``value``.
    """

    def __init__(self, value: str) -> None:
        self.value = value
        self.src = _PREFIX + value + _SUFFIX
        self.user_end = len(_PREFIX) + len(value)
        self.pos = 0
        self.frames = [_Frame(-1)]
        self.atom: int | None = None  # nested repeat product of the last atom, if any
        self.last_repeat_at: int | None = None
        self.stray_close: int | None = None  # a ')' of the value closing Alertmanager's '('
        self.lost_open: int | None = None  # a '(' of the value closed by Alertmanager's ')'

    def fail(self, message: str, at: int) -> NoReturn:
        offset = min(max(at - len(_PREFIX), 0), len(self.value))
        raise _RegexProblem(f"{message} at position {offset}")

    def check(self) -> None:
        if re.search(r"(?<!\\)(?:\\\\)*\\\Z", self.value):
            self.fail("trailing backslash at end of regex", self.user_end - 1)
        src = self.src
        while self.pos < len(src):
            c = src[self.pos]
            repeat_at: int | None = None
            if c == "(":
                self._open()
            elif c == ")":
                self._close()
            elif c == "|":
                self._settle()
                self.atom = None
                self.pos += 1
            elif c in "*+?":
                repeat_at = self.pos
                lo, hi = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[c]
                self._repeat(c, lo, hi, self.pos + 1, counted=False)
            elif c == "{" and (bounds := self._braces()) is not None:
                repeat_at = self.pos
                lo, hi, after = bounds
                self._repeat(src[self.pos : after], lo, hi, after, counted=True)
            elif c == "[":
                self._char_class()
            elif c == "\\":
                self._escape()
            else:  # a literal (also '{' that is not a repeat), '.', '^' or '$'
                self._new_atom()
                self.pos += 1
            self.last_repeat_at = repeat_at
        self._settle()
        if len(self.frames) > 1:
            at = self.lost_open if self.lost_open is not None else self.frames[-1].open_at
            self.fail("missing ), unterminated subpattern", at)

    def _settle(self) -> None:
        if self.atom is not None:
            frame = self.frames[-1]
            frame.inner = max(frame.inner, self.atom)

    def _new_atom(self, inner: int = 1) -> None:
        self._settle()
        self.atom = inner

    # -- groups

    def _push(self, at: int) -> None:
        if len(self.frames) > _MAX_DEPTH:
            self.fail("expression nests too deeply", at)
        self._settle()
        self.atom = None
        self.frames.append(_Frame(at))

    def _open(self) -> None:
        src, at = self.src, self.pos
        if not src.startswith("(?", at):
            self._push(at)
            self.pos = at + 1
            return
        for prefix, what in _PYTHON_GROUPS:
            if src.startswith(prefix, at):
                self.fail(f"{what} is not supported by Go RE2, Alertmanager's regex engine", at)
        if src.startswith("(?P<", at) or src.startswith("(?<", at):
            begin = at + (4 if src.startswith("(?P<", at) else 3)
            end = src.find(">", begin)
            if end < 0:
                self.fail("invalid named capture: missing >", at)
            name = src[begin:end]
            if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                self.fail(f"invalid named capture '{src[at : end + 1]}'", at)
            self._push(at)  # Go takes a name twice, unlike Python
            self.pos = end + 1
            return
        # Flags: (?i) for the rest of the current group, (?i:...) for a new group.
        negated, saw_flag = False, False
        j = at + 2
        while j < len(src):
            c = src[j]
            j += 1
            if c in _FLAGS:
                saw_flag = True
            elif c == "-" and not negated:
                negated, saw_flag = True, False
            elif c in ":)" and (not negated or saw_flag):
                if c == ":":
                    self._push(at)
                self.pos = j
                return
            elif c in "aLux":
                self.fail(f"flag '{c}' is not supported by Go RE2 (only i, m, s and U are)", at)
            else:
                break
        self.fail(f"invalid or unsupported group syntax '{src[at:j]}'", at)

    def _close(self) -> None:
        at = self.pos
        if len(self.frames) == 1:
            self.fail(
                "unbalanced parenthesis", at if self.stray_close is None else self.stray_close
            )
        self._settle()
        frame = self.frames.pop()
        own_paren = at >= self.user_end
        own_frame = 0 <= frame.open_at < len(_PREFIX)
        if own_paren and not own_frame:
            self.lost_open = frame.open_at
        if own_frame and not own_paren:
            self.stray_close = at
        self.atom = frame.inner
        self.pos = at + 1

    # -- repetition

    def _braces(self) -> tuple[int, int, int] | None:
        """Parse ``{n}``, ``{n,}`` or ``{n,m}`` at pos as Go does; None if it is not one."""
        src = self.src
        lo, j = self._int(self.pos + 1)
        if lo is None or j >= len(src):
            return None
        if src[j] == "}":
            return lo, lo, j + 1
        if src[j] != ",":
            return None
        j += 1
        if j < len(src) and src[j] == "}":
            return lo, -1, j + 1
        hi, j = self._int(j)
        if hi is None or j >= len(src) or src[j] != "}":
            return None
        return lo, hi, j + 1

    def _int(self, j: int) -> tuple[int | None, int]:
        src = self.src
        k = j
        while k < len(src) and "0" <= src[k] <= "9":
            k += 1
        digits = src[j:k]
        if not digits or (len(digits) > 1 and digits[0] == "0"):  # Go refuses leading zeros
            return None, j
        return (int(digits) if len(digits) <= 8 else _MAX_REPEAT + 1), k

    def _repeat(self, op: str, lo: int, hi: int, after: int, *, counted: bool) -> None:
        src, at = self.src, self.pos
        if counted and (lo > _MAX_REPEAT or hi > _MAX_REPEAT or (hi >= 0 and lo > hi)):
            self.fail(f"invalid repeat count '{op}' (Go RE2 allows at most 1000)", at)
        lazy = after < len(src) and src[after] == "?"
        end = after + 1 if lazy else after
        if self.last_repeat_at is not None:
            both = src[self.last_repeat_at : end]
            if src[at] == "+":
                self.fail(f"possessive quantifier '{both}' is not supported by Go RE2", at)
            self.fail(f"invalid nested repetition operator '{both}'", at)
        if self.atom is None:
            self.fail(f"nothing to repeat before '{op}'", at)
        if counted:
            product = (hi if hi >= 0 else lo) * self.atom
            if (lo >= 2 or hi >= 2) and product > _MAX_REPEAT:
                self.fail(
                    f"invalid repeat count '{op}': nested counted repetitions multiply "
                    "to more than 1000",
                    at,
                )
            self.atom = product
        self.pos = end

    # -- escapes and classes

    def _escape(self) -> None:
        src, at = self.src, self.pos
        c = src[at + 1]  # the trailing-backslash check in check() guarantees one
        if c == "Q":
            end = src.find("\\E", at + 2)
            if end < 0:
                self.fail("\\Q without a closing \\E", at)
            if end > at + 2:
                self._new_atom()
            self.pos = end + 2
            return
        self._new_atom()
        if c in "AzbB" or c in _PERL_CLASSES:
            self.pos = at + 2
        elif c in "pP":
            self.pos = self._unicode_class(at)
        else:
            _, self.pos = self._escape_char(at)

    def _unicode_class(self, at: int) -> int:
        """Check ``\\pN``, ``\\p{Greek}`` or ``\\P{^Greek}`` at ``at``; return its end."""
        src = self.src
        if src.startswith("{", at + 2):
            close = src.find("}", at + 3)
            if close < 0:
                self.fail(f"invalid character class range '{src[at : self.user_end]}'", at)
            name, end = src[at + 3 : close], close + 1
        else:
            name, end = src[at + 2 : at + 3], at + 3
        if not _unicode_class_known(name.removeprefix("^")):
            self.fail(f"unknown Unicode class '{src[at:end]}'", at)
        return end

    def _escape_char(self, at: int) -> tuple[int, int]:
        """Decode the escape at ``at`` to one code point, as Go's parseEscape does."""
        src = self.src
        if at + 1 >= len(src):
            self.fail("trailing backslash at end of regex", at)
        c = src[at + 1]
        j = at + 2
        if "1" <= c <= "9" and not ("1" <= c <= "7" and j < len(src) and "0" <= src[j] <= "7"):
            self.fail(f"backreference \\{c} is not supported by Go RE2", at)
        if "0" <= c <= "7":  # octal: \0, \012, \12, \123
            cp = ord(c) - 0x30
            for _ in range(2):
                if j < len(src) and "0" <= src[j] <= "7":
                    cp = cp * 8 + ord(src[j]) - 0x30
                    j += 1
            return cp, j
        if c == "x":
            if src.startswith("{", j):
                k = j + 1
                while k < len(src) and src[k] in _HEX:
                    k += 1
                if (
                    k == j + 1
                    or k >= len(src)
                    or src[k] != "}"
                    or int(src[j + 1 : k], 16) > _MAX_RUNE
                ):
                    self.fail(f"invalid escape sequence '{src[at : k + 1]}'", at)
                return int(src[j + 1 : k], 16), k + 1
            if j + 1 < len(src) and src[j] in _HEX and src[j + 1] in _HEX:
                return int(src[j : j + 2], 16), j + 2
            self.fail(f"invalid escape sequence '{src[at : j + 2]}'", at)
        if c in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[c], j
        if c.isascii() and not c.isalnum():
            return ord(c), j
        if c == "Z":
            self.fail("\\Z is Python syntax; Go RE2 writes the end of text as \\z", at)
        if c in "uUN":
            self.fail(f"\\{c} escapes are Python syntax; Go RE2 writes \\x{{263a}}", at)
        self.fail(f"invalid escape sequence \\{c}", at)

    def _char_class(self) -> None:
        src, start = self.src, self.pos
        j = start + 1
        if j < len(src) and src[j] == "^":
            j += 1
        first = True
        while True:
            if j >= len(src):
                self.fail("missing ], unterminated character set", start)
            c = src[j]
            if c == "]" and not first:
                j += 1
                break
            first = False
            if src.startswith("[:", j):
                end = src.find(":]", j + 2)
                if end >= 0:
                    if src[j + 2 : end].removeprefix("^") not in _POSIX_CLASSES:
                        self.fail(f"invalid character class '{src[j : end + 2]}'", j)
                    j = end + 2
                    continue
            if c == "\\" and j + 1 < len(src):
                if src[j + 1] in _PERL_CLASSES:
                    j += 2
                    continue
                if src[j + 1] in "pP":
                    j = self._unicode_class(j)
                    continue
            begin = j
            lo, j = self._class_char_at(j)
            if j + 1 < len(src) and src[j] == "-" and src[j + 1] != "]":
                hi, j = self._class_char_at(j + 1)
                if hi < lo:
                    self.fail(f"invalid character class range '{src[begin:j]}'", begin)
        self.pos = j
        self._new_atom()

    def _class_char_at(self, j: int) -> tuple[int, int]:
        if self.src[j] == "\\":
            return self._escape_char(j)
        return ord(self.src[j]), j + 1
