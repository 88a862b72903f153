"""Alertmanager label matchers: syntax, semantics and Go RE2 regex compatibility.

A matcher is ``name op value`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``. A list
of matchers is written ``{a="b", c=~"d"}`` (braces optional) and is ANDed by callers.

Which Alertmanager behaviour this follows
-----------------------------------------
The *classic* parser, ``pkg/labels/parse.go`` (``ParseMatcher``, ``ParseMatchers``), and
``pkg/labels/matcher.go`` (``NewMatcher``, ``Matches``, ``String``), as of Alertmanager
0.25 to 0.27. The newer UTF-8 parser (``matchers/parse/``, quoted label names, no
unquoted values with spaces) is *not* followed: Alertmanager itself falls back to the
classic parser for input the UTF-8 one rejects, so classic syntax is the common ground.

Syntax, exactly as the classic parser reads it:

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

Semantics, from ``matcher.go``:

* A missing label is the empty string, so ``foo=""`` matches when ``foo`` is absent,
  ``foo!=""`` means "foo is present and not empty", and ``foo=~".*"`` matches always.
* ``=~`` and ``!~`` compile ``^(?:VALUE)$`` with Go's RE2: fully anchored, ``$`` is the
  very end of the text (Python's ``$`` also matches before a final newline), ``.``
  does not match ``\\n`` unless ``(?s)``, and ``\\d``, ``\\w``, ``\\s``, ``\\b`` are
  ASCII-only. Since the value is pasted between ``^(?:`` and ``)$``, a value such as
  ``a)|(b`` is accepted by Alertmanager and means "starts with a, or ends with b";
  this module reproduces that rather than rejecting it.
* ``str(matcher)`` prints ``name<op>"value"`` with ``\\``, newline and ``"`` escaped,
  which ``parse_matcher`` reads back to an equal matcher.

Regular expressions are not handed to Python's ``re`` as written. They are parsed with
RE2's grammar (Go's ``regexp/syntax`` with Perl flags) and rewritten into an equivalent
Python pattern: so ``a{,3}`` stays the literal text it is in Go, ``(?i)`` in the middle
of a pattern scopes as in Go, ``[[:alpha:]]`` and ``\\x{263a}`` work, and everything Go
rejects is rejected here with a clear message. That includes the Python-only features
people reach for: backreferences (``\\1``, ``(?P=name)``), lookarounds (``(?=``,
``(?!``, ``(?<=``, ``(?<!``), atomic groups ``(?>...)``, possessive quantifiers
(``*+``), conditionals, comments, ``\\Z`` and the ``x``/``a``/``u``/``L`` flags. The one
RE2 feature not supported is Unicode classes (``\\pL``, ``\\p{Greek}``): Python's
``re`` cannot express them, so they are rejected with a message rather than guessed.
Go's limits are applied too: counted repetitions up to 1000, also when nested.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

__all__ = [
    "LABEL_NAME_PATTERN",
    "MatchOp",
    "Matcher",
    "MatcherError",
    "format_matchers",
    "parse_matcher",
    "parse_matchers",
]

LABEL_NAME_PATTERN = "[a-zA-Z_:][a-zA-Z0-9_:]*"
"""Label names the classic Alertmanager parser accepts."""

_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)

# Go's \s in RE2 is ASCII: tab, newline, form feed, carriage return, space (no \v).
_WS = "\t\n\f\r "
_MATCHER = re.compile(
    rf"\A[{_WS}]*({LABEL_NAME_PATTERN})[{_WS}]*(=~|=|!=|!~)[{_WS}]*(.*?)[{_WS}]*\Z",
    re.DOTALL,
)
_OPS_TEXT = "=, !=, =~, !~"


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
    be given as its text (``"=~"``). Raises :class:`MatcherError` for an invalid label
    name, an unknown operator or a regex that Alertmanager's Go RE2 would reject.
    """

    name: str
    op: MatchOp
    value: str
    regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    """The Python translation of ``^(?:value)$`` for regex operators, else None."""

    def __post_init__(self) -> None:
        try:
            op = MatchOp(self.op)
        except ValueError:
            raise MatcherError(
                _render(self.name, str(self.op), self.value),
                f"bad operator {str(self.op)!r}: expected one of {_OPS_TEXT}",
            ) from None
        object.__setattr__(self, "op", op)
        if not _LABEL_NAME.fullmatch(self.name):
            raise MatcherError(str(self), _bad_name(self.name))
        if op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                compiled = _compile_go_regex(self.value)
            except _RegexProblem as exc:
                raise MatcherError(str(self), f"bad regex: {exc}") from None
            object.__setattr__(self, "regex", compiled)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels satisfy this matcher; a missing label counts as ""."""
        value = labels.get(self.name, "")
        op = self.op  # compared with module aliases: Enum attribute lookups are slow on 3.11
        if op is _EQUAL:
            return value == self.value
        if op is _NOT_EQUAL:
            return value != self.value
        assert self.regex is not None
        found = self.regex.search(value) is not None
        return found if op is _REGEX else not found

    def __str__(self) -> str:
        return _render(self.name, self.op.value, self.value)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """Render matchers as Alertmanager prints a list: ``{a="b",c=~"d"}``."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``severity=~"warning|critical"`` or ``instance!=foo``."""
    try:
        return _parse_one(text, 0)
    except _Problem as exc:
        raise MatcherError(text, str(exc)) from None


def parse_matchers(text: str) -> list[Matcher]:
    """Parse ``{a="b", c=~"d"}`` (braces optional, trailing comma allowed) into matchers."""
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
            raise MatcherError(piece, reason, context=text)
        try:
            matchers.append(_parse_one(piece, offset))
        except _Problem as exc:
            raise MatcherError(piece, str(exc), context=text) from None
    return matchers


# --------------------------------------------------------------------------- parsing

# unicode.IsSpace in Go, used by strings.TrimSpace on the last item of a list.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(cp) for cp in range(0x2000, 0x200B)
)


class _Problem(Exception):
    """What is wrong with one matcher; positions are already absolute."""


def _render(name: str, op: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return f'{name}{op}"{escaped}"'


def _bad_name(name: str) -> str:
    if not name:
        return "empty label name"
    hint = ""
    if name.startswith("{") or name.endswith("}"):
        hint = " (braces may only surround a whole list of matchers)"
    elif name.startswith('"'):
        hint = " (quoted label names are not part of the classic matcher syntax)"
    return f"invalid label name {name!r}{hint}: a label name must match {LABEL_NAME_PATTERN}"


def _parse_one(text: str, offset: int) -> Matcher:
    found = _MATCHER.match(text)
    if found is None:
        raise _Problem(_diagnose(text, offset))
    name, op, raw = found.group(1), found.group(2), found.group(3)
    value = _unescape(raw, offset + found.start(3))
    try:
        return Matcher(name, MatchOp(op), value)
    except MatcherError as exc:
        raise _Problem(exc.reason) from None


def _diagnose(text: str, offset: int) -> str:
    """Explain why ``text`` is not ``name op value``."""
    n = len(text)
    i = 0
    while i < n and text[i] in _WS:
        i += 1
    if i == n:
        return "empty matcher"
    j = i
    while j < n and text[j] not in _WS and text[j] not in "=!~<>":
        j += 1
    word = text[i:j]
    if not word:
        return f"missing label name before {text[i]!r} at position {offset + i}"
    if not _LABEL_NAME.fullmatch(word):
        return f"{_bad_name(word)} (at position {offset + i})"
    k = j
    while k < n and text[k] in _WS:
        k += 1
    if k == n:
        return f"missing operator after label name {word!r}: expected one of {_OPS_TEXT}"
    end = k
    while end < n and end < k + 3 and text[end] in "=!~<>":
        end += 1
    bad = text[k:end] or text[k]
    return f"bad operator {bad!r} at position {offset + k}: expected one of {_OPS_TEXT}"


def _unescape(raw: str, at: int) -> str:
    """Decode a value as Alertmanager's classic parser does; ``at`` is where it starts."""
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
        at += 1
    for i, ch in enumerate(raw):
        if "\ud800" <= ch <= "\udfff":
            raise _Problem(f"value is not valid UTF-8 (lone surrogate) at position {at + i}")
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


# ------------------------------------------------------------- Go RE2 -> Python re

_PREFIX = "^(?:"  # what Alertmanager's NewMatcher wraps a regex in
_SUFFIX = ")$"
_MAX_REPEAT = 1000  # Go regexp/syntax: largest count in x{n,m}, also as a nested product
_MAX_DEPTH = 1000  # Go regexp/syntax: deepest nesting
_MAX_RUNE = 0x10FFFF

_FOLD = 1  # (?i)
_MULTILINE = 2  # (?m)
_DOTNL = 4  # (?s)
_UNGREEDY = 8  # (?U)
_FLAG_BITS = {"i": _FOLD, "m": _MULTILINE, "s": _DOTNL, "U": _UNGREEDY}

_Ranges = tuple[tuple[int, int], ...]

_DIGIT: _Ranges = ((0x30, 0x39),)
_WORD: _Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_PERL_GROUPS: dict[str, _Ranges] = {
    "d": _DIGIT,
    "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)),
    "w": _WORD,
}
_POSIX_GROUPS: dict[str, _Ranges] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": _DIGIT,
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": _WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_SIMPLE_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_HEX = "0123456789abcdefABCDEF"

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
def _compile_go_regex(value: str) -> re.Pattern[str]:
    pattern = _Translator(value).translate()
    try:
        return re.compile(pattern)
    except RecursionError:
        raise _RegexProblem("groups nest too deeply for Python's re module") from None
    except (re.error, OverflowError) as exc:  # pragma: no cover - translation bug guard
        raise _RegexProblem(f"cannot be compiled by Python's re module: {exc}") from None


def _normalize(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _complement(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    next_lo = 0
    for lo, hi in _normalize(ranges):
        if lo > next_lo:
            out.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= _MAX_RUNE:
        out.append((next_lo, _MAX_RUNE))
    return out


def _fold_ascii(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Close an ASCII class under Go's simple case folding (k/K/KELVIN, s/S/LONG S)."""
    out = list(ranges)
    for lo, hi in list(out):
        for first, last, delta in ((0x41, 0x5A, 0x20), (0x61, 0x7A, -0x20)):
            a, b = max(lo, first), min(hi, last)
            if a <= b:
                out.append((a + delta, b + delta))
        if lo <= 0x4B <= hi or lo <= 0x6B <= hi:
            out.append((0x212A, 0x212A))
        if lo <= 0x53 <= hi or lo <= 0x73 <= hi:
            out.append((0x17F, 0x17F))
    return _normalize(out)


def _class_char(cp: int) -> str:
    ch = chr(cp)
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


@dataclass
class _Frame:
    saved_flags: int
    open_at: int
    out_index: int
    inner: int = 1  # largest product of counted repeats inside (Go's repeatIsValid)


@dataclass
class _Atom:
    start: int  # index in the output list where this atom begins
    inner: int = 1
    repeated: bool = False
    zero_width: bool = False


class _Translator:
    """Parse ``^(?:value)$`` with Go RE2's grammar and emit an equivalent Python pattern.

    Flags are resolved here, so the output never relies on Python's inline flags except
    in scoped form around single atoms: ``(?i:x)``, ``(?s:.)``, ``(?m:^)``.
    """

    def __init__(self, value: str) -> None:
        self.value = value
        self.src = _PREFIX + value + _SUFFIX
        self.user_end = len(_PREFIX) + len(value)
        self.pos = 0
        self.out: list[str] = []
        self.flags = 0
        self.frames = [_Frame(0, -1, 0)]
        self.atom: _Atom | None = None
        self.last_repeat_at: int | None = None
        self.names: set[str] = set()
        self.stray_close: int | None = None  # a ')' of the value closing Alertmanager's '('
        self.lost_open: int | None = None  # a '(' of the value closed by Alertmanager's ')'

    def fail(self, message: str, at: int) -> NoReturn:
        offset = min(max(at - len(_PREFIX), 0), len(self.value))
        raise _RegexProblem(f"{message} at position {offset}")

    def translate(self) -> str:
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
                self.out.append("|")
                self.pos += 1
            elif c in "*+?":
                repeat_at = self.pos
                lo, hi = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[c]
                self._repeat(c, lo, hi, self.pos + 1, counted=False)
            elif c == "{":
                bounds = self._braces()
                if bounds is None:  # not a valid repeat: Go reads '{' literally
                    self._literal("{")
                    self.pos += 1
                else:
                    repeat_at = self.pos
                    lo, hi, after = bounds
                    self._repeat(src[self.pos : after], lo, hi, after, counted=True)
            elif c == "[":
                self._char_class()
            elif c == "\\":
                self._escape()
            elif c == "^":
                self._zero_width(r"(?m:^)" if self.flags & _MULTILINE else r"\A")
                self.pos += 1
            elif c == "$":
                self._zero_width(r"(?m:$)" if self.flags & _MULTILINE else r"\Z")
                self.pos += 1
            elif c == ".":
                self._emit(r"(?s:.)" if self.flags & _DOTNL else ".")
                self.pos += 1
            else:
                self._literal(c)
                self.pos += 1
            self.last_repeat_at = repeat_at
        self._settle()
        if len(self.frames) > 1:
            at = self.lost_open if self.lost_open is not None else self.frames[-1].open_at
            self.fail("missing ), unterminated subpattern", at)
        return "".join(self.out)

    # -- atoms

    def _settle(self) -> None:
        if self.atom is not None:
            frame = self.frames[-1]
            frame.inner = max(frame.inner, self.atom.inner)

    def _set_atom(self, atom: _Atom) -> None:
        self._settle()
        self.atom = atom

    def _emit(self, text: str, *, zero_width: bool = False) -> None:
        self._set_atom(_Atom(len(self.out), zero_width=zero_width))
        self.out.append(text)

    def _zero_width(self, text: str) -> None:
        self._emit(text, zero_width=True)

    def _literal(self, ch: str) -> None:
        escaped = re.escape(ch)
        self._emit(f"(?i:{escaped})" if self.flags & _FOLD else escaped)

    def _emit_class(self, ranges: Iterable[tuple[int, int]], negated: bool) -> None:
        merged = _normalize(ranges)
        if not merged:
            self._emit(r"(?s:.)" if negated else "(?!)", zero_width=not negated)
            return
        body = "".join(
            _class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}"
            for lo, hi in merged
        )
        text = f"[{'^' if negated else ''}{body}]"
        self._emit(f"(?i:{text})" if self.flags & _FOLD else text)

    def _group(self, ranges: _Ranges, negated: bool) -> list[tuple[int, int]]:
        """A Perl or POSIX class as Go builds it: case-folded first, then negated."""
        folded = _fold_ascii(ranges) if self.flags & _FOLD else list(ranges)
        return _complement(folded) if negated else folded

    # -- groups

    def _push(self, at: int) -> None:
        if len(self.frames) > _MAX_DEPTH:
            self.fail("expression nests too deeply", at)
        self._settle()
        self.atom = None
        self.frames.append(_Frame(self.flags, at, len(self.out)))
        self.out.append("(?:")

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
            if name in self.names:
                self.fail(f"duplicate capture group name '{name}'", at)
            self.names.add(name)
            self._push(at)
            self.pos = end + 1
            return
        # Flags: (?i) sets them for the rest of the current group, (?i:...) for a group.
        flags, sign, saw_flag = self.flags, 1, False
        j = at + 2
        while j < len(src):
            c = src[j]
            j += 1
            if c in _FLAG_BITS:
                flags = flags | _FLAG_BITS[c] if sign > 0 else flags & ~_FLAG_BITS[c]
                saw_flag = True
            elif c == "-" and sign > 0:
                sign, saw_flag = -1, False
            elif c in ":)" and (sign > 0 or saw_flag):
                if c == ":":
                    self._push(at)
                self.flags = flags
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
        self.flags = frame.saved_flags
        self.out.append(")")
        self.atom = _Atom(frame.out_index, inner=frame.inner)
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
        atom = self.atom
        if atom is None:
            self.fail(f"nothing to repeat before '{op}'", at)
        if counted:
            factor = hi if hi >= 0 else lo
            product = factor * atom.inner
            if (lo >= 2 or hi >= 2) and product > _MAX_REPEAT:
                self.fail(
                    f"invalid repeat count '{op}': nested counted repetitions multiply "
                    "to more than 1000",
                    at,
                )
            atom.inner = product
        if atom.repeated or atom.zero_width:
            self.out.insert(atom.start, "(?:")
            self.out.append(")")
        if not counted:
            quantifier = op
        elif lo == hi:
            quantifier = f"{{{lo}}}"
        else:
            quantifier = f"{{{lo},{'' if hi < 0 else hi}}}"
        non_greedy = lazy != bool(self.flags & _UNGREEDY)
        self.out.append(quantifier + ("?" if non_greedy else ""))
        atom.repeated = True
        atom.zero_width = False
        self.pos = end

    # -- escapes and classes

    def _escape(self) -> None:
        src, at = self.src, self.pos
        c = src[at + 1]  # the trailing-backslash check in translate() guarantees one
        if c in "AzbB":
            self._zero_width(
                {
                    "A": r"\A",
                    "z": r"\Z",
                    "b": r"(?a:\b)",
                    "B": r"(?a:(?<=\w)(?=\w)|(?<!\w)(?!\w))",
                }[c]
            )
            self.pos = at + 2
        elif c == "Q":
            end = src.find("\\E", at + 2)
            if end < 0:
                self.fail("\\Q without a closing \\E", at)
            for ch in src[at + 2 : end]:
                self._literal(ch)
            self.pos = end + 2
        elif c in "dDsSwW":
            self._emit_class(self._group(_PERL_GROUPS[c.lower()], c.isupper()), negated=False)
            self.pos = at + 2
        elif c in "pP":
            self._unicode_class(at)
        else:
            cp, self.pos = self._escape_char(at)
            self._literal(chr(cp))

    def _unicode_class(self, at: int) -> NoReturn:
        src = self.src
        end = src.find("}", at) + 1 if src.startswith("{", at + 2) else at + 3
        self.fail(
            f"Unicode class '{src[at:end]}' is not supported here (Python's re has no "
            "\\p{...}); list the characters or ranges instead",
            at,
        )

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
        negated = j < len(src) and src[j] == "^"
        if negated:
            j += 1
        items: list[tuple[int, int]] = []
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
                    name = src[j + 2 : end]
                    ranges = _POSIX_GROUPS.get(name.removeprefix("^"))
                    if ranges is None:
                        self.fail(f"invalid character class '{src[j : end + 2]}'", j)
                    items += self._group(ranges, name.startswith("^"))
                    j = end + 2
                    continue
            if c == "\\" and j + 1 < len(src):
                e = src[j + 1]
                if e in "dDsSwW":
                    items += self._group(_PERL_GROUPS[e.lower()], e.isupper())
                    j += 2
                    continue
                if e in "pP":
                    self._unicode_class(j)
            begin = j
            lo, j = self._class_char_at(j)
            hi = lo
            if j + 1 < len(src) and src[j] == "-" and src[j + 1] != "]":
                hi, j = self._class_char_at(j + 1)
                if hi < lo:
                    self.fail(f"invalid character class range '{src[begin:j]}'", begin)
            items.append((lo, hi))
        self.pos = j
        self._emit_class(items, negated)

    def _class_char_at(self, j: int) -> tuple[int, int]:
        if self.src[j] == "\\":
            return self._escape_char(j)
        return ord(self.src[j]), j + 1
