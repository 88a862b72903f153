"""The frames between the server and the ``exec`` helper process (stdlib only).

Both sides import this module; the helper must not load asyncio, pydantic nor orjson
(see :mod:`alertreflex.actions.exec_worker`), so it only cuts and joins bytes: each
side encodes the JSON documents itself (the server with orjson, the helper with the
standard library's json).

A frame is an 8-byte header, the big-endian lengths of a JSON document and of a
blob, then the document and the blob. The blob carries a step's stdin as raw bytes,
so that a large alert is neither escaped into a JSON string nor decoded again::

    request  {"id": n, "argv": [...], "env": {...}, "cwd": str|null, "limit": bytes,
              "timeout": s, "pipe_grace": s, "kill_grace": s}  + the stdin bytes
    cancel   {"cancel": n}        the step's process group is killed, its answer says so
    ready    {"ready": true}      the helper's first frame, once it can serve
    answer   {"id": n, "returncode": int|null, "timed_out": bool, "stdout": str,
              "stderr": str, "pipes_held_open": bool}
           | {"id": n, "spawn_error": {"errno": int|null, "strerror": str|null,
                                       "filename": str|null}}
           | {"id": n, "spawn_error": {"value_error": str}}
           | {"id": n|null, "failed": summary}   (cancelled, or a request it refused)
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">II")
CANCELLED = "cancelled: alertreflex is shutting down"


def frame(doc: bytes, blob: bytes = b"") -> bytes:
    """A frame of an encoded JSON document and an optional blob."""
    return HEADER.pack(len(doc), len(blob)) + doc + blob


def next_frame(buf: bytearray, start: int) -> tuple[bytearray, bytearray, int] | None:
    """The document and blob of the frame at ``buf[start:]``, and where the next one
    starts; None until the whole frame is there."""
    if len(buf) - start < HEADER.size:
        return None
    doc_len, blob_len = HEADER.unpack_from(buf, start)
    doc_at = start + HEADER.size
    end = doc_at + doc_len + blob_len
    if len(buf) < end:
        return None
    return buf[doc_at : doc_at + doc_len], buf[doc_at + doc_len : end], end
