"""Keep secrets out of what is stored and logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Redactor:
    def __init__(self, secrets: Mapping[str, str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._pairs = sorted(
            ((v, f"<secret:{k}>") for k, v in secrets.items() if len(v) >= 4),
            key=lambda p: -len(p[0]),
        )

    def text(self, value: str) -> str:
        for secret, mask in self._pairs:
            if secret in value:
                value = value.replace(secret, mask)
        return value

    def tree(self, value: Any) -> Any:
        if not self._pairs:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        return value
