"""What a step's parameters were set to, without those left at their defaults.

A step's record keeps every parameter of its action as rendered and redacted,
defaults included (``env {}``, ``amx_env false``, ``cwd null``). People reading a run
(the UI's run page, ``alertreflex runs --show``) want what the config set.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, PydanticUserError, TypeAdapter


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a parameter that is one (``Request | None`` too), not a container."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _nested_model(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        models = {m for arg in get_args(annotation) if (m := _nested_model(arg)) is not None}
        return models.pop() if len(models) == 1 else None
    return None


@functools.cache
def _defaults(model: type[BaseModel]) -> dict[str, tuple[list[Any], type[BaseModel] | None]]:
    """Each parameter of ``model`` by the name it is stored under: the values that mean
    it was left at its default (as written and as stored), and its model if nested."""
    out: dict[str, tuple[list[Any], type[BaseModel] | None]] = {}
    for name, field in model.model_fields.items():
        same: list[Any] = []
        if not field.is_required():
            default = field.get_default(call_default_factory=True, validated_data={})
            same.append(default)
            # Stored values are JSON dumps: "30s" is a float once validated, "30s" again
            # once dumped.
            try:
                adapter: TypeAdapter[Any] = TypeAdapter(field.rebuild_annotation())
                value = adapter.validate_python(default) if field.validate_default else default
                same.append(adapter.dump_python(value, mode="json", by_alias=True))
            except (PydanticUserError, ValueError, TypeError):
                pass  # a type only its model can handle: compare with the default as written
        key = field.serialization_alias or field.alias or name
        out[key] = (same, _nested_model(field.annotation))
    return out


def _set_only(model: type[BaseModel] | None, params: dict[str, Any]) -> dict[str, Any]:
    """Stored (rendered, redacted) parameters without those left at their defaults,
    in nested models too. Computed when shown, so that older runs read the same; a
    parameter the model does not know (any more) is kept."""
    if model is None:
        return params
    fields = _defaults(model)
    out: dict[str, Any] = {}
    for key, value in params.items():
        same, nested = fields.get(key, ([], None))
        if any(value == d for d in same):
            continue
        out[key] = _set_only(nested, value) if nested and isinstance(value, dict) else value
    return out


def set_params(models: Mapping[str, type[BaseModel]], step: dict[str, Any]) -> dict[str, Any]:
    """What a step's config set, as rendered for this run, given each action type's
    parameter model (``params_models``); everything when its action type is not
    installed any more."""
    return _set_only(models.get(step.get("action", "")), step.get("params") or {})
