"""YAML with line numbers: every value's path maps to the line it was written on.

PyYAML's composer keeps marks on nodes but its constructors drop them; we walk the
node tree ourselves so that a validation error can say ``file:line: path: message``.
Duplicate keys are errors here (PyYAML would silently keep the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from alertreflex.core.paths import Path

try:  # the C loader is several times faster on large reflex directories
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


class YamlError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class LocatedDocument:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def load_yaml(text: str) -> LocatedDocument:
    """Parse one YAML document; raise YamlError with the line of the first problem."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = LocatedDocument(None)
        if node is not None:
            doc.data = _construct(loader, node, (), doc.lines)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlError(f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", 1) from None
    finally:
        loader.dispose()


# Aliases let a few hundred bytes stand for billions of values (a "billion laughs"
# document); config and team files are not trusted that far.
MAX_VALUES = 200_000


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if len(lines) > MAX_VALUES:
        raise YamlError(
            f"more than {MAX_VALUES} values (after expanding aliases): refused",
            node.start_mark.line + 1,
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise YamlError(
                    f"duplicate key {key!r} (first at line {lines[(*path, key)]})",
                    key_node.start_mark.line + 1,
                )
            out[key] = _construct(loader, value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
