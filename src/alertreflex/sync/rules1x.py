"""Prometheus 1.x rule files (``ALERT ... IF ...`` and ``name = expr``) to 2.x rule YAML.

Prometheus 2.0 dropped the 1.x rule language for YAML rule groups, and its
``promtool update rules`` that did the conversion is gone from current promtool.
This module does the same job, with errors that name ``file:line:column``:

    # node.rules                    # node.rules.yml
    ALERT InstanceDown              groups:
      IF up == 0                    - name: node
      FOR 5m                  ->      rules:
      LABELS { severity="page" }      - alert: InstanceDown
                                        expr: up == 0
                                        for: 5m
                                        labels:
                                          severity: page

Only the rule syntax is parsed here. An expression is copied from the source
text, with comments dropped and whitespace collapsed, without being parsed as
PromQL: its end is found from bracket depth and the keywords that follow it,
and PromQL itself is left to ``promtool check rules`` (`ConvertedRules.rule_lines`
maps promtool's rule numbers back to source lines). What 2.0 removed from PromQL
(``KEEP_COMMON``, ``drop_common_labels``, ``count_scalar``) is refused with
what to write instead. See docs/rules-1x.md.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import yaml

__all__ = ["ConvertedRules", "RuleSyntaxError", "convert_rules_1x"]

# Keywords are case-insensitive in the 1.x lexer (it lower-cases a word before
# looking it up). These are the ones that structure a rule.
_RULE_KEYWORDS = frozenset({"alert", "if", "for", "labels", "annotations"})
_CLAUSES = ("for", "labels", "annotations")

# Prometheus 0.x alert syntax, already refused by 1.x: `WITH {labels}`,
# `SUMMARY "..."`, `DESCRIPTION "..."`, `RUNBOOK "..."`.
_OLD_STRING_CLAUSES = frozenset({"summary", "description", "runbook"})

# What the Prometheus 2.0 migration guide says to use instead of what it removed.
_REMOVED_MODIFIER = (
    "KEEP_COMMON was removed in Prometheus 2.0: list the labels to keep with by (...)"
)
_REMOVED_FUNCTIONS = {
    "drop_common_labels": (
        "drop_common_labels() was removed in Prometheus 2.0: "
        "drop the labels with an aggregation's without (...) instead"
    ),
    "count_scalar": (
        "count_scalar() was removed in Prometheus 2.0: use count(...), "
        "and absent(...) to alert on missing series"
    ),
}

_ALERT_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_WORD = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Numbers and durations (5m, 1h30m, 0x1F, 1.5e-3): one token, so that a FOR's
# duration is one token; the trailing letters make `5m` and `10ms` whole.
_NUMBER = re.compile(
    r"(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[a-zA-Z0-9_]*"
)
# Longest first, so that `==`, `=~`, `!=` never read as `=`.
_OPERATORS = (
    "==", "!=", "=~", "!~", "<=", ">=",
    "=", "<", ">", "+", "-", "*", "/", "%", "^", ",", "@",
    "(", ")", "{", "}", "[", "]",
)  # fmt: skip
_CLOSING = {")": "(", "]": "[", "}": "{"}
# PromQL words that an expression cannot end with.
_OPERATOR_WORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "bool", "offset", "atan2"}
    | {"group_left", "group_right"}
)
_SPACE = " \t\r\n"

# A Prometheus duration as 2.x reads it: units in decreasing order, each once.
_DURATION = re.compile(
    r"0|(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_MAX_DURATION_MS = (2**63 - 1) // 1_000_000  # Go's time.Duration is int64 nanoseconds

_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
}  # fmt: skip
# Escapes with digits: how many, their base, the largest value. \x and octal give
# a byte, \u and \U a code point.
_NUMERIC_ESCAPES = {"x": (2, 16, 0xFF), "u": (4, 16, 0x10FFFF), "U": (8, 16, 0x10FFFF)}
_OCTAL_ESCAPE = (3, 8, 0xFF)
_SURROGATE = re.compile("[\ud800-\udfff]")


class RuleSyntaxError(ValueError):
    """Input that cannot be converted; ``str(e)`` is ``file:line:column: message``."""

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{file}:{line}:{column}: {message}")
        self.file = file
        self.line = line
        self.column = column
        self.message = message


@dataclass
class ConvertedRules:
    """A converted file: the 2.x document and, per rule in order, its source line."""

    doc: dict[str, Any]
    rule_lines: list[int]
    source: str = "<string>"
    """The source file's name, for the generated-by header."""

    def to_yaml(self) -> str:
        printable = "".join(c if c.isprintable() else "?" for c in self.source)
        header = (
            f"# Generated by alertreflex convert-rules from {printable}\n"
            "# (Prometheus 1.x rule syntax converted to a 2.x rule file).\n"
        )
        body = yaml.dump(
            self.doc,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            # One expression per line: folded long lines are valid YAML but hard to read.
            width=2**31 - 1,
        )
        return header + body


class _Dumper(yaml.SafeDumper):
    """safe_dump's output, but multi-line strings as ``|`` block literals."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # PyYAML falls back to a quoted style by itself where a block cannot hold the
    # string exactly (trailing spaces on a line, special characters).
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def convert_rules_1x(
    text: str, *, filename: str = "<string>", group: str | None = None
) -> ConvertedRules:
    """Convert the 1.x rules in ``text`` to one 2.x rule group.

    ``group`` defaults to the file's base name without its ``.rules`` suffix.
    Raises `RuleSyntaxError` for anything that is not valid 1.x rule syntax or
    that Prometheus 2.x no longer supports.
    """
    if group is None:
        group = default_group_name(filename)
    if not group:
        raise ValueError("the group name must not be empty")
    # An editor's byte order mark is invisible: columns count from after it.
    text = text.removeprefix("\ufeff")
    lexer = _Lexer(text, filename)
    rules, lines = _Parser(lexer.tokens(), text, lexer.at).rules()
    doc: dict[str, Any] = {"groups": [{"name": group, "rules": rules}]}
    return ConvertedRules(doc=doc, rule_lines=lines, source=filename)


def default_group_name(filename: str) -> str:
    """``node.rules`` -> ``node``; ``<stdin>`` -> ``stdin``.

    ``promtool update rules`` used the path as given, which changes with the
    directory it ran in; the base name is stable.
    """
    name = PurePath(filename).name
    if len(name) > 2 and name.startswith("<") and name.endswith(">"):
        return name[1:-1]
    stem = name.removesuffix(".rules")
    return stem or name or "rules"


# -- tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # word, number, string, op, eof
    text: str  # the source text, quotes included for strings
    start: int  # offsets into the source
    end: int
    value: str = ""  # a string's decoded value

    def is_word(self, *lowered: str) -> bool:
        return self.kind == "word" and self.text.lower() in lowered

    def is_op(self, op: str) -> bool:
        return self.kind == "op" and self.text == op

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of file"
        if self.kind == "word" and self.text.lower() in _RULE_KEYWORDS:
            return self.text.upper()
        return _quoted(self.text)


def _quoted(source: str) -> str:
    """A piece of source for a one-line message: quoted, shortened, newlines escaped."""
    shown = source if len(source) <= 40 else source[:37] + "..."
    return "'" + shown.replace("\n", "\\n").replace("\r", "\\r") + "'"


class _Positions:
    """Offsets to 1-based (line, column); columns count characters."""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self._starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def locate(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def error(self, offset: int, message: str) -> RuleSyntaxError:
        return RuleSyntaxError(self.filename, *self.locate(offset), message)


class _Lexer:
    """Splits the source into tokens; comments and whitespace are dropped, and
    the gaps they leave are seen as ``tokens[i].start != tokens[i-1].end``."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.at = _Positions(text, filename)

    def tokens(self) -> list[_Token]:
        text = self.text
        bad = _SURROGATE.search(text)
        if bad:  # undecodable bytes, as read with errors="surrogateescape"
            raise self.at.error(bad.start(), "invalid UTF-8")
        out: list[_Token] = []
        i = 0
        while i < len(text):
            c = text[i]
            if c in _SPACE:
                i += 1
            elif c == "#":  # a comment runs to the end of the line
                newline = text.find("\n", i)
                i = len(text) if newline < 0 else newline
            elif c in "\"'`":
                token = self._string(i)
                out.append(token)
                i = token.end
            else:
                token = self._plain(i)
                out.append(token)
                i = token.end
        out.append(_Token("eof", "", len(text), len(text)))
        return out

    def _plain(self, i: int) -> _Token:
        text = self.text
        for kind, pattern in (("word", _WORD), ("number", _NUMBER)):
            m = pattern.match(text, i)
            if m:
                return _Token(kind, m.group(), i, m.end())
        for op in _OPERATORS:
            if text.startswith(op, i):
                return _Token("op", op, i, i + len(op))
        raise self.at.error(i, f"unexpected character {text[i]!r}")

    def _string(self, start: int) -> _Token:
        text = self.text
        quote = text[start]
        if quote == "`":  # raw: no escapes, may span lines
            close = text.find("`", start + 1)
            if close < 0:
                raise self.at.error(start, "unterminated raw string")
            return _Token(
                "string", text[start : close + 1], start, close + 1, text[start + 1 : close]
            )
        value = bytearray()  # bytes: \x and octal escapes give bytes, not characters
        i = start + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.at.error(start, "unterminated quoted string")
            c = text[i]
            if c == quote:
                break
            if c == "\\":
                i = self._escape(i, quote, value)
            else:
                value += c.encode()
                i += 1
        try:
            decoded = value.decode()
        except UnicodeDecodeError:
            raise self.at.error(start, "string is not valid UTF-8 after its escapes") from None
        return _Token("string", text[start : i + 1], start, i + 1, decoded)

    def _escape(self, i: int, quote: str, value: bytearray) -> int:
        """Decode the escape at ``text[i] == '\\'`` into ``value`` with Go's rules, as
        the 1.x lexer did; return the offset after it."""
        text = self.text
        c = text[i + 1] if i + 1 < len(text) else ""
        if c in _SIMPLE_ESCAPES:
            value += _SIMPLE_ESCAPES[c].encode()
            return i + 2
        if c == quote:  # only the string's own quote may be escaped
            value += c.encode()
            return i + 2
        if c and c in "01234567":
            (count, base, limit), first = _OCTAL_ESCAPE, i + 1
        elif c and c in _NUMERIC_ESCAPES:
            (count, base, limit), first = _NUMERIC_ESCAPES[c], i + 2
        elif c in ("", "\n"):
            raise self.at.error(i, "escape sequence not terminated")
        else:
            raise self.at.error(i, f"unknown escape sequence '\\{c}'")
        digits = text[first : first + count]
        allowed = "01234567" if base == 8 else "0123456789abcdefABCDEF"
        if len(digits) != count or any(d not in allowed for d in digits):
            raise self.at.error(i, f"invalid escape sequence '\\{c}': it needs {count} digits")
        code = int(digits, base)
        if code > limit or 0xD800 <= code < 0xE000:
            raise self.at.error(i, "escape sequence is an invalid Unicode code point")
        if limit == 0xFF:
            value.append(code)
        else:
            value += chr(code).encode()
        return first + count


def _can_end(tok: _Token | None) -> bool:
    """Whether an expression may end with ``tok``: not after an operator."""
    if tok is None or tok.kind in ("number", "string"):
        return True
    if tok.kind == "op":
        return tok.text in _CLOSING
    return tok.text.lower() not in _OPERATOR_WORDS


# -- rules --------------------------------------------------------------------------


@dataclass
class _Parser:
    tokens: list[_Token]  # ends with an eof token
    text: str
    at: _Positions
    pos: int = 0

    def rules(self) -> tuple[list[dict[str, Any]], list[int]]:
        rules: list[dict[str, Any]] = []
        lines: list[int] = []
        while (tok := self._peek()).kind != "eof":
            lines.append(self.at.locate(tok.start)[0])
            if tok.is_word("alert"):
                rules.append(self._alert())
            elif tok.kind == "word" and tok.text.lower() not in _RULE_KEYWORDS:
                rules.append(self._record())
            elif tok.kind != "word" and (self._peek(1).is_op("=") or self._peek(1).is_op("{")):
                raise self._error(
                    tok,
                    f"invalid recording rule name {self._run(tok)}: "
                    "must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                )
            else:
                raise self._error(
                    tok,
                    f"unexpected {tok.describe()}: expected ALERT or a recording rule "
                    "'name = expression'",
                )
        return rules, lines

    # The two kinds of rules.

    def _alert(self) -> dict[str, Any]:
        self._next()  # ALERT
        name = self._next()
        if name.kind != "word" or not _ALERT_NAME.fullmatch(name.text) or self._glued(name):
            raise self._error(
                name, f"invalid alert name {self._run(name)}: must match [a-zA-Z_][a-zA-Z0-9_]*"
            )
        if name.text.lower() in _RULE_KEYWORDS:
            raise self._error(name, f"missing alert name: got {name.describe()}")
        if_tok = self._next()
        if not if_tok.is_word("if"):
            raise self._error(
                if_tok, f"missing IF after ALERT {name.text}: got {if_tok.describe()}"
            )
        rule: dict[str, Any] = {"alert": name.text, "expr": self._expression("IF")}
        clauses: dict[str, Any] = {}
        while (tok := self._peek()).is_word(*_CLAUSES):
            self._next()
            key = tok.text.lower()
            if key in clauses:
                raise self._error(tok, f"{key.upper()} given twice in ALERT {name.text}")
            clauses[key] = self._duration() if key == "for" else self._label_set(tok)
        for key in _CLAUSES:  # the 2.x order, whatever the source's
            if clauses.get(key):
                rule[key] = clauses[key]
        self._expect_rule_end(f"ALERT {name.text}", "FOR, LABELS, ANNOTATIONS or the next rule")
        return rule

    def _record(self) -> dict[str, Any]:
        name = self._next()
        if self._glued(name):
            raise self._error(
                name,
                f"invalid recording rule name {self._run(name)}: "
                "must match [a-zA-Z_:][a-zA-Z0-9_:]*",
            )
        labels = self._label_set(name) if self._peek().is_op("{") else {}
        assign = self._next()
        if not assign.is_op("="):
            raise self._error(
                assign,
                f"expected '=' after recording rule name {name.text}, got {assign.describe()}",
            )
        rule: dict[str, Any] = {"record": name.text, "expr": self._expression(f"{name.text} =")}
        if labels:
            rule["labels"] = labels
        tok = self._peek()
        if tok.is_word(*_CLAUSES):
            raise self._error(
                tok,
                f"{tok.describe()} after recording rule {name.text}: "
                "FOR, LABELS and ANNOTATIONS belong to ALERT rules",
            )
        self._expect_rule_end(f"recording rule {name.text}", "the next rule")
        return rule

    # Parts of rules.

    def _expression(self, after: str) -> str:
        """The expression's source text up to where the rule goes on (a keyword at
        bracket depth 0) or the next rule starts; comments dropped, whitespace
        collapsed to single spaces."""
        parts: list[_Token] = []
        open_brackets: list[_Token] = []
        while (tok := self._peek()).kind != "eof":
            if not open_brackets and self._ends_expression(parts[-1] if parts else None):
                break
            self._refuse_removed(tok)
            if tok.kind == "op" and tok.text in "({[":
                open_brackets.append(tok)
            elif tok.kind == "op" and tok.text in _CLOSING:
                if not open_brackets or open_brackets[-1].text != _CLOSING[tok.text]:
                    raise self._error(tok, f"unexpected '{tok.text}': no matching opening bracket")
                open_brackets.pop()
            parts.append(self._next())
        if open_brackets:
            raise self._error(open_brackets[-1], f"'{open_brackets[-1].text}' is never closed")
        if not parts:
            message = f"missing expression after {after}"
            if self._at_record_start():
                message += (
                    f": '{self._peek().text} =' starts a recording rule (to compare, use '==')"
                )
            raise self._error(self._peek(), message)
        pieces = [parts[0].text]
        for prev, tok in itertools.pairwise(parts):
            pieces.append(tok.text if tok.start == prev.end else " " + tok.text)
        return "".join(pieces)

    def _ends_expression(self, last: _Token | None) -> bool:
        """Whether the next token ends the expression, at bracket depth 0."""
        tok = self._peek()
        if tok.kind == "op":
            return tok.text == "="  # never PromQL at depth 0: reported by the caller
        if tok.kind != "word":
            return False
        word = tok.text.lower()
        if word in _RULE_KEYWORDS:
            return True
        if word in _OLD_STRING_CLAUSES and self._peek(1).kind == "string":
            return True
        if word == "with" and self._peek(1).is_op("{"):
            return True
        # After `foo +`, `bar = 1` is a mistyped comparison, not the next rule.
        return _can_end(last) and self._at_record_start()

    def _refuse_removed(self, tok: _Token) -> None:
        if tok.is_word("keep_common"):
            raise self._error(tok, _REMOVED_MODIFIER)
        if tok.kind == "word" and self._peek(1).is_op("("):
            message = _REMOVED_FUNCTIONS.get(tok.text.lower())
            if message:
                raise self._error(tok, message)

    def _duration(self) -> str:
        tok = self._next()
        if tok.kind == "eof" or tok.is_word(*_RULE_KEYWORDS):
            raise self._error(tok, "missing duration after FOR, like 5m")
        m = _DURATION.fullmatch(tok.text) if tok.kind == "number" else None
        if m is None or self._glued(tok):
            raise self._error(
                tok,
                f"invalid duration {self._run(tok)} after FOR: "
                "expected a number and a unit, like 5m (units: ms, s, m, h, d, w, y)",
            )
        ms = sum(int(n) * unit for n, unit in zip(m.groups(), _DURATION_MS, strict=True) if n)
        if ms > _MAX_DURATION_MS:
            raise self._error(tok, f"duration {tok.text} is out of range")
        return tok.text

    def _label_set(self, owner: _Token) -> dict[str, str]:
        """``{ name = "value", ... }``, a trailing comma allowed."""
        what = owner.text.upper() if owner.is_word("labels", "annotations") else "the labels"
        brace = self._next()
        if not brace.is_op("{"):
            raise self._error(brace, f"expected '{{' after {what}, got {brace.describe()}")
        result: dict[str, str] = {}
        seen: dict[str, _Token] = {}
        while not (tok := self._next()).is_op("}"):
            name = self._label_name(tok, what)
            if name in seen:
                line, column = self.at.locate(seen[name].start)
                raise self._error(
                    tok, f"duplicate name {name} in {what} (first at line {line}, column {column})"
                )
            seen[name] = tok
            if not (eq := self._next()).is_op("="):
                raise self._error(eq, f"expected '=' after {name} in {what}, got {eq.describe()}")
            if (value := self._next()).kind != "string":
                raise self._error(
                    value, f"expected a quoted string for {name} in {what}, got {value.describe()}"
                )
            result[name] = value.value
            if (sep := self._next()).is_op("}"):
                break
            if not sep.is_op(","):
                raise self._error(sep, f"expected ',' or '}}' in {what}, got {sep.describe()}")
        return result

    def _label_name(self, tok: _Token, what: str) -> str:
        if tok.kind == "eof":
            raise self._error(tok, f"unexpected end of file in {what}: missing '}}'")
        if tok.kind != "word" or not _LABEL_NAME.fullmatch(tok.text) or self._glued(tok):
            raise self._error(
                tok,
                f"invalid name {self._run(tok)} in {what}: must match [a-zA-Z_][a-zA-Z0-9_]*",
            )
        if tok.text == "__name__" and what != "ANNOTATIONS":
            raise self._error(tok, "a rule cannot set the label __name__")
        return tok.text

    def _expect_rule_end(self, rule: str, expected: str) -> None:
        """After a rule: the end of the file, or the next rule."""
        tok = self._peek()
        if tok.kind == "eof" or tok.is_word("alert") or self._at_record_start():
            return
        if tok.is_op("="):
            message = "a single '=' is not a PromQL operator (to compare, use '==')"
        elif tok.is_word(*_OLD_STRING_CLAUSES):
            key = tok.text.lower()
            message = (
                f"{key.upper()} is Prometheus 0.x syntax: "
                f'write ANNOTATIONS {{ {key} = "..." }} instead'
            )
        elif tok.is_word("with"):
            message = "WITH is Prometheus 0.x syntax: write LABELS { ... } instead"
        else:
            message = f"unexpected {tok.describe()} after {rule}: expected {expected}"
        raise self._error(tok, message)

    # Looking ahead.

    def _at_record_start(self) -> bool:
        """Whether the next tokens are ``name =`` or ``name{...} =``."""
        tok = self._peek()
        if tok.kind != "word" or tok.text.lower() in _RULE_KEYWORDS:
            return False
        i = self.pos + 1
        if self.tokens[i].is_op("{"):
            while not self.tokens[i].is_op("}"):
                i += 1
                if self.tokens[i].kind == "eof" or self.tokens[i].is_op("{"):
                    return False
            i += 1
        return self.tokens[i].is_op("=")

    def _glued(self, tok: _Token) -> bool:
        """Whether ``tok``, the token just taken, goes on without a space into
        something a name cannot hold (``foo-bar``, ``5m.5``): that is one bad name,
        not two tokens."""
        nxt = self._peek()
        if nxt.start != tok.end or nxt.kind in ("eof", "string"):
            return False
        return not (nxt.kind == "op" and nxt.text in ("=", "{", "}", ",", "("))

    def _run(self, tok: _Token) -> str:
        """The source from ``tok`` to the next space or structural character, quoted:
        all of ``foo-bar``, where the tokens are ``foo``, ``-``, ``bar``."""
        if tok.kind == "eof":
            return tok.describe()
        end = tok.end
        while end < len(self.text) and self.text[end] not in _SPACE + "={}(),#\"'`":
            end += 1
        return _quoted(self.text[tok.start : end])

    def _peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _next(self) -> _Token:
        tok = self._peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def _error(self, tok: _Token, message: str) -> RuleSyntaxError:
        return self.at.error(tok.start, message)
