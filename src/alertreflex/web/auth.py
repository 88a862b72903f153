"""Webhook credentials, as Alertmanager's ``http_config`` sends them."""

from __future__ import annotations

import base64
import binascii
import hmac


def check_webhook_auth(header: str | None, credentials: tuple[str, str] | None) -> bool:
    """True if the Authorization header carries the configured credentials.

    ``credentials`` is ("bearer", token) or ("basic", "user:password"); None means no
    auth is configured. Comparison is constant-time on the secret part.
    """
    if credentials is None:
        return True
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    kind, expected = credentials
    if scheme.lower() != kind:
        return False
    value = value.strip()
    if kind == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
    return hmac.compare_digest(value.encode(), expected.encode())
