"""What a conversion gives: the reflexes and the remarks, as YAML with the remarks as
comments, and as one-line messages naming the file and line."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from alertreflex.convert.amx.config import AmxCommand
from alertreflex.convert.amx.remarks import one_line


@dataclass
class ConvertedReflex:
    command: AmxCommand
    reflex: dict[str, Any]
    remarks: list[str]


@dataclass
class Conversion:
    """The reflexes and the remarks: general ones, and one list per reflex."""

    source: str
    reflexes: list[ConvertedReflex]
    remarks: list[str]
    skipped: list[tuple[AmxCommand, str]] = field(default_factory=list)  # duplicates

    def messages(self) -> list[str]:
        """Every remark as one line: ``file:line: commands[i]: text`` or ``file: text``."""
        out = [f"{self.source}: {text}" for text in self.remarks]
        for cmd, text in self.skipped:
            out.append(f"{self.source}:{cmd.line}: commands[{cmd.index}]: {text}")
        for r in self.reflexes:
            where = f"{self.source}:{r.command.line}: commands[{r.command.index}]"
            out.extend(f"{where}: {text}" for text in r.remarks)
        return out

    def to_yaml(self) -> str:
        lines = [
            f"# Converted from the prometheus-am-executor config {one_line(self.source)}",
            "# by `alertreflex convert-amx`; check it with `alertreflex check FILE`.",
            "# What maps and what behaves differently:",
            "#",
        ]
        for text in self.remarks:
            lines.extend(_comment(text, ""))
        for cmd, text in self.skipped:
            lines.extend(_comment(f"commands[{cmd.index}] (line {cmd.line}): {text}", ""))
        lines.append("reflexes:")
        for r in self.reflexes:
            c = r.command
            lines.append(f"  # commands[{c.index}] (line {c.line}): {one_line(shlex.join(c.argv))}")
            for text in r.remarks:
                lines.extend(_comment(text, "  "))
            body = yaml.dump([r.reflex], Dumper=_Dumper, **_DUMP_OPTIONS)
            lines.extend("  " + line for line in body.splitlines())
        return "\n".join(lines) + "\n"


def _comment(text: str, indent: str, width: int = 92) -> list[str]:
    words = one_line(text).split(" ")
    lines: list[str] = []
    line = "- "
    for word in words:
        if len(line) + len(word) > width - len(indent) and line.strip() not in ("", "-"):
            lines.append(line.rstrip())
            line = "  "
        line += word + " "
    lines.append(line.rstrip())
    return [f"{indent}# {part}" for part in lines]


class Flow(list[str]):
    """A list written on one line, ``[a, b]``: argv and matchers read best that way."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent block lists under their key, as the project's examples do.
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # on_firing and on_resolved share one step: write it twice, not as &id001.
        return True


def _represent_flow(dumper: yaml.SafeDumper, value: Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line text as a block (|), one line per line; the emitter falls back to
    # quoting where a block cannot stand (inside [...], trailing spaces).
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(Flow, _represent_flow)
_Dumper.add_representer(str, _represent_str)
_DUMP_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    # Non-ASCII as \u escapes: YAML readers take U+0085, U+2028 and U+2029 for line
    # breaks, even inside quotes, and would change the text.
    "allow_unicode": False,
    "default_flow_style": False,
    "width": 1 << 30,
}
