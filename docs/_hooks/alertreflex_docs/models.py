"""Pydantic models as documentation rows: every field, recursively, with its type,
default and description, read from the models themselves.

A row's ``path`` is how the key is written in YAML: ``settings.sync.token_file``,
``reflexes[].storm_guard.max_runs`` (an item of a list), ``settings.secrets.<name>.file``
(any key of a mapping).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from alertreflex.config.schema import ByteSize
from alertreflex.core.durations import format_duration
from alertreflex.core.types import Duration


def _validator_funcs(annotated: Any) -> set[Any]:
    return {getattr(m, "func", None) for m in typing.get_args(annotated)[1:]} - {None}


# How a Duration or a ByteSize field is recognised: by the validator functions the
# two Annotated types attach, whatever constraints a field adds around them.
_DURATION_FUNCS = _validator_funcs(Duration)
_SIZE_FUNCS = _validator_funcs(ByteSize)


@dataclass(frozen=True)
class FieldDoc:
    path: str
    type: str
    default: str  # "required", or the default as YAML would write it, or "" (not set)
    description: str


def fields(model: type[BaseModel], prefix: str = "") -> Iterator[FieldDoc]:
    """Every field of ``model`` and of the models it nests, depth first; the fields a
    model declares itself before those it inherits (``log_level`` before the
    connection settings it shares with ``http``)."""
    own = set(vars(model).get("__annotations__", {}))
    ordered = sorted(model.model_fields.items(), key=lambda item: item[0] not in own)
    for name, info in ordered:
        key = info.alias or name
        path = f"{prefix}{key}"
        yield FieldDoc(path, type_name(info), default(info), description(info))
        nested = nested_model(info.annotation)
        if nested is not None:
            child, suffix = nested
            yield from fields(child, f"{path}{suffix}")


def nested_model(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model a field holds, and how its keys continue the path: ``.`` for a
    model, ``[].`` for a list of them, ``.<name>.`` for a mapping to them."""
    ann = _strip(annotation)
    origin = typing.get_origin(ann)
    if _is_model(ann):
        return ann, "."
    if origin in (list, tuple, set, frozenset):
        (item, *_) = typing.get_args(ann)
        item = _strip(item)
        return (item, "[].") if _is_model(item) else None
    if origin is dict:
        value = _strip(typing.get_args(ann)[1])
        return (value, ".<name>.") if _is_model(value) else None
    return None


def type_name(info: FieldInfo) -> str:
    base = _type(info.annotation, list(info.metadata))
    show = {"duration": duration_text, "size": format_size}.get(base, str)
    unit = "characters" if base == "string" else "items"
    bounds = _bounds(list(info.metadata), show, unit)
    return f"{base} ({bounds})" if bounds else base


def duration_text(seconds: float) -> str:
    """As config files write it: whole days as days (``30d`` rather than ``4w2d``)."""
    if seconds and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    return format_duration(seconds)


def default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return ""
    metadata = list(info.metadata)
    if _has(metadata, _DURATION_FUNCS) and isinstance(value, int | float):
        return duration_text(float(value))
    if _has(metadata, _SIZE_FUNCS) and isinstance(value, int):
        return format_size(value)
    return yaml_scalar(value)


def description(info: FieldInfo) -> str:
    if info.description:
        return " ".join(info.description.split())
    nested = nested_model(info.annotation)
    if nested is not None:
        return model_summary(nested[0])
    return ""


def model_summary(model: type[BaseModel]) -> str:
    """A model's own docstring, on one line (pydantic's BaseModel text excluded)."""
    doc = model.__doc__
    if not doc or doc is BaseModel.__doc__:
        return ""
    return " ".join(inspect.cleandoc(doc).split())


def format_size(value: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in value.items()) + "}"
    return str(value)


_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type(annotation: Any, metadata: list[Any]) -> str:
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return _type(inner, metadata + _flatten(extra))
    if _has(metadata, _DURATION_FUNCS):
        return "duration"
    if _has(metadata, _SIZE_FUNCS):
        return "size"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(_type(a, []) for a in options)
    if origin is typing.Literal:
        return " or ".join(
            f'"{v}"' if isinstance(v, str) else str(v) for v in typing.get_args(annotation)
        )
    if origin in (list, tuple, set, frozenset):
        (item, *_) = typing.get_args(annotation)
        return f"list of {_plural(_type(item, []))}"
    if origin is dict:
        value = typing.get_args(annotation)[1]
        return f"map of {_plural(_type(value, []))}"
    if _is_model(annotation):
        return "object"
    if annotation is Any:
        return "any"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _plural(name: str) -> str:
    if " or " in name or name.startswith(("list", "map")):
        return f"({name})"
    return {"any": "any values", "boolean": "booleans"}.get(name, name + "s")


def _bounds(metadata: list[Any], show: Callable[[Any], str], unit: str) -> str:
    found: dict[str, Any] = {}
    for m in _flatten(metadata):
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(m, attr, None)
            if value is not None:
                found[attr] = value
    parts = []
    if "ge" in found and "le" in found:
        parts.append(f"{show(found['ge'])} to {show(found['le'])}")
    else:
        signs = (("ge", "≥"), ("gt", ">"), ("le", "≤"))
        parts += [f"{sign} {show(found[k])}" for k, sign in signs if k in found]
    if "lt" in found:
        parts.append(f"< {show(found['lt'])}")
    if found.get("min_length") == 1:
        parts.append("not empty")
    elif found.get("min_length"):
        parts.append(f"at least {found['min_length']} {unit}")
    if "max_length" in found:
        parts.append(f"at most {found['max_length']} {unit}")
    return ", ".join(parts)


def _flatten(metadata: list[Any]) -> list[Any]:
    """Constraint objects, including those a nested ``Field()`` carries."""
    out: list[Any] = []
    for m in metadata:
        if isinstance(m, FieldInfo):
            out.extend(m.metadata)
        else:
            out.append(m)
    return out


def _has(metadata: list[Any], funcs: set[Callable[..., Any]]) -> bool:
    return any(getattr(m, "func", None) in funcs for m in _flatten(metadata))


def _strip(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` as ``X``; other unions unchanged."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return _strip(options[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
