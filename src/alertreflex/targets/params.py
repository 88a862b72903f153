"""The ``container`` parameter of steps that can act inside a container."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from alertreflex.core.paths import format_path

# Docker's grammar for names (ids fit it as well); checked again before each API call,
# since a value rendered from an alert may itself look like a template.
CONTAINER_NAME = re.compile(r"/?[A-Za-z0-9][A-Za-z0-9_.-]*")


class ContainerSelector(BaseModel):
    """Selects the one running container, of the reflex's team, carrying these labels."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] = Field(
        min_length=1,
        description="Labels the container must carry, each with exactly this value "
        "(values may be templates).",
    )

    @field_validator("labels")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or "=" in key:
                raise ValueError(f"invalid label key {key!r}: it must be non-empty, without '='")
        return value

    def describe(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels.items())


def _name_or_selector(value: Any) -> Any:
    """A name stays a string, a mapping becomes a selector; each problem is reported at
    ``container`` in words, not as the failures of every form it could have had."""
    # Imported here: ExecParams is loaded by the exec worker, which has no templates.
    from alertreflex.core.templates import looks_templated

    if isinstance(value, ContainerSelector):
        return value
    if isinstance(value, dict):
        try:
            return ContainerSelector.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = format_path(first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown field: a selector has only labels"
            raise ValueError(f"{where}: {message}" if where else message) from None
    if not isinstance(value, str):
        raise ValueError("expected a container name or id, or {labels: {KEY: VALUE}}")
    if not looks_templated(value) and not CONTAINER_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a container name or id ([A-Za-z0-9][A-Za-z0-9_.-]*)")
    return value


ContainerRef = Annotated[str | ContainerSelector, BeforeValidator(_name_or_selector)]

CONTAINER_DESCRIPTION = (
    "Run in this container instead of on the host, through the engine at "
    "settings.containers.url: its name or id (usually a template such as "
    "'{{ alert.labels.container }}'), or {labels: {KEY: VALUE}} for the one running "
    "container of the reflex's team that carries these labels. The container must "
    "carry the reflex's team in its ownership label and satisfy "
    "settings.containers.match."
)
