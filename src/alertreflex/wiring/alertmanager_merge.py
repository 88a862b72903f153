"""alertreflex's receiver and route merged into an existing alertmanager.yml.

The receiver is appended to ``receivers:``; the route becomes the first child of the
top-level route, with ``continue: true``, so every alert still goes on to the routes
people had. One more thing changes for them otherwise: Alertmanager gives an alert to
the top-level route's receiver only when no child route matched it, and alertreflex's
route matches. So :func:`merge` also appends, when needed, the routes that give the
top-level receiver exactly the alerts it had (see :func:`fallback_routes`).

The new lines are inserted into the text at positions taken from the parsed file, and
nothing else is touched: comments, quoting, indentation and key order stay byte for
byte. (Re-emitting the whole document through a round-trip YAML library would
re-indent files that mix styles and move the comment above the first route onto the
inserted one.) The result is parsed again and must equal the original document plus
exactly the added parts, or nothing is returned.

Merging twice changes nothing the second time. A receiver or a route of the same name
that differs from what the options give is not overwritten: someone may have edited
it, and a wrong guess would cut alerts off; :class:`MergeError` says where it is.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from alertreflex.core.matchers import Matcher, MatcherError, MatchOp, parse_matchers
from alertreflex.wiring.alertmanager import Wiring, receiver_data, route_data
from alertreflex.wiring.alertmanager_yaml import fallback_lines, receiver_lines, route_lines

MAX_FALLBACK_ROUTES = 8  # beyond this the routing tree would say more than a person reads

_NEGATED = {
    MatchOp.EQUAL: MatchOp.NOT_EQUAL,
    MatchOp.NOT_EQUAL: MatchOp.EQUAL,
    MatchOp.REGEX: MatchOp.NOT_REGEX,
    MatchOp.NOT_REGEX: MatchOp.REGEX,
}
# Booleans as Alertmanager's YAML reader (Go's yaml.v2, YAML 1.1) reads `continue`.
_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_NULL = {"", "~", "null", "Null", "NULL"}


class MergeError(ValueError):
    """The file cannot take the receiver and route safely; the message says why and where."""


@dataclass(frozen=True)
class Merged:
    text: str
    changed: bool
    notes: tuple[str, ...]  # what was done, with line numbers in ``text``


class _TextLoader(yaml.SafeLoader):
    """Plain scalars stay text, as Alertmanager reads match values (``true`` is "true")."""


# No implicit types, but `<<` still merges, as it does for Alertmanager.
_TextLoader.yaml_implicit_resolvers = {}
_TextLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def merge(text: str, w: Wiring) -> Merged:
    """``text`` (an alertmanager.yml) with the receiver and route of ``w`` added."""
    doc = _Document(text)
    root = doc.top_level("route", required=True)
    assert root.node is not None
    if not isinstance(root.node, yaml.MappingNode) or not isinstance(root.data, dict):
        raise MergeError(f"line {root.line}: `route:` is not a mapping")
    top_receiver = root.text_data.get("receiver") if isinstance(root.text_data, dict) else None
    if not isinstance(top_receiver, str) or not top_receiver:
        raise MergeError(f"line {root.line}: the top-level route has no receiver")
    if top_receiver == w.receiver:
        raise MergeError(
            f"line {root.line}: the top-level route's receiver is {w.receiver!r} already; "
            "it should be people's: choose another --receiver"
        )
    receivers = doc.top_level("receivers", required=False)
    routes = doc.child(root, "routes")

    has_receiver = _receiver_state(receivers, w)
    has_route = _route_state(routes, root, w)
    if has_receiver and has_route:
        note = f"already merged: receiver {w.receiver!r} and its route are in place"
        return Merged(text, False, (note,))

    edits: list[_Edit] = []
    expected = copy.deepcopy(doc.data)
    if not has_receiver:
        edits.append(doc.append_receiver(receivers, w))
        expected.setdefault("receivers", None)
        expected["receivers"] = [*(expected["receivers"] or []), receiver_data(w)]
    fallbacks: list[dict[str, Any]] = []
    if not has_route:
        children = routes.text_data if isinstance(routes.text_data, list) else []
        lines = [routes.item_line(i) for i in range(len(children))]
        fallbacks = fallback_routes(top_receiver, children, lines)
        edits += doc.insert_route(root, routes, w, fallbacks)
        expected_root = expected["route"]
        expected_root["routes"] = [route_data(w), *(expected_root.get("routes") or []), *fallbacks]

    merged = _apply(text, edits)
    try:
        check = yaml.load(merged, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        check = None
    if check != expected:  # a bug here must never reach anyone's file
        raise MergeError(
            "the merged file would not read as the original plus alertreflex's parts "
            "(anchors or an unusual layout around route.routes or receivers?); "
            "add them by hand as the default output shows"
        )
    return Merged(merged, True, tuple(_notes(merged, w, has_receiver, has_route, fallbacks)))


def fallback_routes(
    receiver: str, children: list[Any], lines: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """The routes to end ``route.routes`` with so that ``receiver`` (the top-level one)
    still gets exactly the alerts no child route matched, once a first route that
    matches them is inserted.

    Before, the top-level receiver got an alert when no child matched it. After, the
    end of the list is reached when no child *without* ``continue`` matched; so the
    fallback routes must also leave out what a child *with* ``continue: true`` matched:
    they carry the negation of each such child's matchers. A child with several
    matchers negates to "one of them fails", which takes one route per matcher (the
    first that matches stops the search). A child without matchers matched every
    alert, so the top-level receiver never got one and nothing is needed.

    ``children`` are the routes as text (:class:`_TextLoader`); ``lines`` their lines,
    for messages.
    """
    alternatives: list[list[str]] = []
    for i, child in enumerate(children):
        where = f"line {lines[i]}: route.routes[{i}]" if i < len(lines) else f"route.routes[{i}]"
        if not isinstance(child, dict):
            raise MergeError(f"{where} is not a mapping")
        continues, matchers = _continues(child, where), _matchers_of(child, where)
        if not matchers:
            return []
        if continues:
            alternatives.append([str(_negate(m)) for m in matchers])
    combinations = list(itertools.product(*alternatives))
    if len(combinations) > MAX_FALLBACK_ROUTES:
        raise MergeError(
            f"keeping {receiver!r}'s alerts would take {len(combinations)} routes (routes "
            "with continue: true and several matchers each); add alertreflex's route by "
            "hand, or end route.routes with a route that matches every alert first"
        )
    fallbacks: list[dict[str, Any]] = []
    for combination in combinations:
        route: dict[str, Any] = {"receiver": receiver}
        if combination:
            route["matchers"] = list(dict.fromkeys(combination))
        fallbacks.append(route)
    return fallbacks


def _matchers_of(route: dict[str, Any], where: str) -> list[Matcher]:
    """A route's matchers, from ``match``, ``match_re`` and ``matchers`` (all ANDed)."""
    found: list[Matcher] = []
    try:
        for field, op in (("match", MatchOp.EQUAL), ("match_re", MatchOp.REGEX)):
            table = route.get(field) or {}
            if not isinstance(table, dict):
                raise MergeError(f"{where}.{field} is not a mapping")
            found += [Matcher(str(name), op, str(value)) for name, value in table.items()]
        lines = route.get("matchers") or []
        if not isinstance(lines, list):
            raise MergeError(f"{where}.matchers is not a list")
        for text in lines:
            found += parse_matchers(str(text))
    except MatcherError as exc:
        raise MergeError(f"{where}: {exc}") from None
    return found


def _continues(route: dict[str, Any], where: str) -> bool:
    value = route.get("continue")
    if value is None or value in _FALSE or value in _NULL:
        return False
    if value in _TRUE:
        return True
    raise MergeError(f"{where}.continue: {value!r} is not true or false")


def _negate(m: Matcher) -> Matcher:
    return Matcher(m.name, _NEGATED[m.op], m.value)


def _receiver_state(receivers: _Part, w: Wiring) -> bool:
    """Whether the receiver is there as ``w`` makes it; MergeError if one differs."""
    items = receivers.data if isinstance(receivers.data, list) else []
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == w.receiver:
            if item == receiver_data(w):
                return True
            raise MergeError(
                f"line {receivers.item_line(i)}: a receiver named {w.receiver!r} is already "
                "there with other settings; it is left alone: edit it by hand, or remove "
                "it and its route and merge again, or choose another --receiver"
            )
    return False


def _route_state(routes: _Part, root: _Part, w: Wiring) -> bool:
    """Whether the route is in place as ``w`` makes it (first child, nowhere else)."""
    items = routes.data if isinstance(routes.data, list) else []
    first = bool(items) and items[0] == route_data(w)
    for path, line in _routes_to(root, w.receiver):
        if path == (0,) and first:
            continue
        where = "route.routes" + "".join(f"[{i}].routes" for i in path[:-1]) + f"[{path[-1]}]"
        raise MergeError(
            f"line {line}: {where} already sends to {w.receiver!r}, "
            + ("with other settings" if path == (0,) else "not as the first route")
            + "; it is left alone: edit it by hand, or remove it and merge again"
        )
    return first


def _routes_to(part: _Part, receiver: str) -> Iterator[tuple[tuple[int, ...], int]]:
    """Every route below ``part`` whose receiver is ``receiver``: its index path, line."""

    def walk(node: Any, data: Any, path: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], int]]:
        if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
            return
        children = data.get("routes")
        child_nodes = _value_node(node, "routes")
        if not isinstance(children, list) or not isinstance(child_nodes, yaml.SequenceNode):
            return
        for i, (child, child_node) in enumerate(zip(children, child_nodes.value, strict=False)):
            if isinstance(child, dict) and child.get("receiver") == receiver:
                yield (*path, i), child_node.start_mark.line + 1
            yield from walk(child_node, child, (*path, i))

    yield from walk(part.node, part.data, ())


def _value_node(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            node: yaml.Node = v
            return node
    return None


@dataclass
class _Part:
    """One entry of a mapping in the file: its key and value nodes, what it reads as."""

    key: yaml.ScalarNode | None  # None: the file has no such entry
    node: yaml.Node | None
    data: Any
    text_data: Any  # scalars as text, as Alertmanager reads label values

    @property
    def line(self) -> int:
        """1-based, for messages."""
        node = self.node or self.key
        return int(node.start_mark.line) + 1 if node is not None else 1

    def item_line(self, i: int) -> int:
        if isinstance(self.node, yaml.SequenceNode) and i < len(self.node.value):
            return int(self.node.value[i].start_mark.line) + 1
        return self.line


@dataclass(frozen=True)
class _Edit:
    line: int  # 0-based: the new text goes before this line (len(lines): at the end)
    text: str
    blank: tuple[int, int] | None = None  # columns of ``line - 1`` to remove first


class _Document:
    """The file's text and its parse, with the edits that add list items to it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        self.newline = "\r\n" if "\r\n" in text else "\n"
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.load(text, Loader=yaml.SafeLoader)
            self.text_data = yaml.load(text, Loader=_TextLoader)  # noqa: S506 - safe, as text
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}: " if mark else ""
            raise MergeError(f"{where}not YAML: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise MergeError(f"not YAML: {exc}") from None
        if not isinstance(node, yaml.MappingNode) or not isinstance(self.data, dict):
            raise MergeError("not an alertmanager.yml: the file is not a YAML mapping")
        if node.flow_style:
            raise MergeError(
                "the file is one flow mapping ({...}, JSON?): --merge edits block YAML"
            )
        self.root = node

    def top_level(self, key: str, *, required: bool) -> _Part:
        return self._entry(self.root, self.data, self.text_data, key, key, required=required)

    def child(self, parent: _Part, key: str) -> _Part:
        assert isinstance(parent.node, yaml.MappingNode)
        if parent.node.flow_style:
            raise MergeError(f"line {parent.line}: `route:` is written in flow style {{...}}")
        return self._entry(
            parent.node, parent.data, parent.text_data, key, f"route.{key}", required=False
        )

    def _entry(
        self,
        mapping: yaml.MappingNode,
        data: Any,
        text_data: Any,
        key: str,
        name: str,
        *,
        required: bool,
    ) -> _Part:
        pairs = [
            (k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key
        ]
        if len(pairs) > 1:
            raise MergeError(f"line {pairs[1][0].start_mark.line + 1}: `{name}:` appears twice")
        if not pairs:
            if isinstance(data, dict) and key in data:  # from a merge key (<<)
                raise MergeError(f"`{name}:` comes from a << merge: add the parts by hand")
            if required:
                raise MergeError(
                    f"no `{name}:` in the file: not an alertmanager.yml (--full prints one)"
                )
            return _Part(None, None, None, None)
        k, v = pairs[0]
        if v.start_mark.index < k.end_mark.index:  # defined before its key: an alias
            raise MergeError(f"line {k.start_mark.line + 1}: `{name}:` is an alias: add by hand")
        return _Part(k, v, data.get(key), text_data.get(key))

    def append_receiver(self, receivers: _Part, w: Wiring) -> _Edit:
        """The edit that adds the receiver at the end of ``receivers:``."""
        if receivers.key is None:  # no receivers at all: start the list at the end
            return _Edit(len(self.lines), self._join(["receivers:", *receiver_lines(w, 2)]))
        node = receivers.node
        if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
            dash = self._dash_column(node.value[0])
            return _Edit(self._end(node.value[-1], dash), self._join(receiver_lines(w, dash)))
        return self._fill_empty(receivers, receiver_lines(w, receivers.key.start_mark.column + 2))

    def insert_route(
        self, root: _Part, routes: _Part, w: Wiring, fallbacks: list[dict[str, Any]]
    ) -> list[_Edit]:
        """alertreflex's route first in ``route.routes``, the fallback routes last."""
        assert root.key is not None
        assert isinstance(root.node, yaml.MappingNode)
        node = routes.node
        if (
            routes.key is not None
            and isinstance(node, yaml.SequenceNode)
            and node.value
            and not node.flow_style
        ):
            dash = self._dash_column(node.value[0])
            # Right under `routes:`, above any comment that introduces the first route.
            edits = [_Edit(routes.key.start_mark.line + 1, self._join(route_lines(w, dash)))]
            if fallbacks:
                end = self._end(node.value[-1], dash)
                edits.append(_Edit(end, self._join(fallback_lines(fallbacks, dash))))
            return edits
        if routes.key is not None:
            dash = routes.key.start_mark.column + 2
            items = [*route_lines(w, dash), *fallback_lines(fallbacks, dash)]
            return [self._fill_empty(routes, items)]
        column = int(root.node.value[0][0].start_mark.column)
        items = [*route_lines(w, column + 2), *fallback_lines(fallbacks, column + 2)]
        at = self._end(root.node, root.key.start_mark.column)
        return [_Edit(at, self._join([" " * column + "routes:", *items]))]

    def _fill_empty(self, part: _Part, lines: list[str]) -> _Edit:
        """An empty list (``key:``, ``key: []``, ``key: null``) becomes a block list."""
        assert part.key is not None
        assert part.node is not None
        node, name, line = part.node, part.key.value, part.key.start_mark.line
        empty = (isinstance(node, yaml.SequenceNode) and not node.value) or (
            isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
        )
        if not empty:
            kind = "in flow style [...]" if isinstance(node, yaml.SequenceNode) else "not a list"
            raise MergeError(
                f"line {line + 1}: `{name}:` is {kind}; write it as a block list (one `- ` "
                "item per line) and merge again"
            )
        if node.start_mark.line != line or node.end_mark.line != line:
            raise MergeError(f"line {line + 1}: `{name}:` is empty but spans lines: add by hand")
        blank = (node.start_mark.column, node.end_mark.column)
        return _Edit(line + 1, self._join(lines), blank)

    def _dash_column(self, item: yaml.Node) -> int:
        before = self.lines[item.start_mark.line][: item.start_mark.column].rstrip()
        if not before.endswith("-") or before[:-1].strip():
            raise MergeError(f"line {item.start_mark.line + 1}: expected a `- ` item there")
        return len(before) - 1

    def _end(self, node: yaml.Node, column: int) -> int:
        """The line after ``node``, and after the comment lines that follow it indented
        more than ``column`` (they belong to it, e.g. a commented-out setting)."""
        end = _last_line(node)
        for i in range(end + 1, len(self.lines)):
            stripped = self.lines[i].strip()
            if stripped.startswith("#") and _indent_of(self.lines[i]) > column:
                end = i
            elif stripped:
                break
        return end + 1

    def _join(self, lines: list[str]) -> str:
        return "".join(line + self.newline for line in lines)


def _last_line(node: yaml.Node) -> int:
    """The 0-based line of the last character that belongs to ``node``."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style:
        return max(_last_line(n) for pair in node.value for n in pair)
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return max(_last_line(n) for n in node.value)
    end = node.end_mark
    # A block scalar ends at the start of the next line.
    line: int = end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
    return line


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _apply(text: str, edits: list[_Edit]) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\r\n" if "\r\n" in text else "\n"
    for edit in sorted(edits, key=lambda e: e.line, reverse=True):
        if edit.blank is not None:  # `key: []` or `key: ~`, becoming `key:`
            start, end = edit.blank
            line = lines[edit.line - 1]
            lines[edit.line - 1] = line[:start].rstrip(" ") + line[end:]
        lines.insert(edit.line, edit.text)
    return "".join(lines)


def _notes(
    text: str, w: Wiring, had_receiver: bool, had_route: bool, fallbacks: list[dict[str, Any]]
) -> Iterator[str]:
    """What was added, with its line in the merged text."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(node, yaml.MappingNode)
    if not had_receiver:
        receivers = _value_node(node, "receivers")
        assert isinstance(receivers, yaml.SequenceNode)
        yield f"line {receivers.value[-1].start_mark.line + 1}: added the receiver {w.receiver!r}"
    if had_route:
        return
    root = _value_node(node, "route")
    assert isinstance(root, yaml.MappingNode)
    routes = _value_node(root, "routes")
    assert isinstance(routes, yaml.SequenceNode)
    yield (
        f"line {routes.value[0].start_mark.line + 1}: added its route as the first of "
        "route.routes, with continue: true: every alert goes on to your routes as before"
    )
    if fallbacks:
        first = routes.value[len(routes.value) - len(fallbacks)]
        yield (
            f"line {first.start_mark.line + 1}: added {len(fallbacks)} route(s) to "
            f"{fallbacks[0]['receiver']!r} at the end of route.routes: Alertmanager gave the "
            "top-level receiver the alerts no route matched, and alertreflex's route "
            "matches them now; these routes give it exactly those alerts again"
        )
