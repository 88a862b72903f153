"""Capped capture of an action's output, shared by the built-in actions.

A step's output is stored with its run, so it is bounded: the first ``limit`` bytes
are kept, the rest is read (so that the producer is never blocked) and only counted.
"""

from __future__ import annotations

import codecs


class CappedBuffer:
    """Keeps the first ``limit`` bytes fed to it and counts the ones it drops."""

    __slots__ = ("_chunks", "_kept", "dropped", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._chunks: list[bytes] = []
        self._kept = 0
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self.limit - self._kept
        if room >= len(data):
            self._chunks.append(data)
            self._kept += len(data)
            return
        if room > 0:
            self._chunks.append(data[:room])
            self._kept += room
        self.dropped += len(data) - max(room, 0)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def data(self) -> bytes:
        """The kept bytes, undecoded."""
        return b"".join(self._chunks)

    def text(self) -> str:
        """The kept bytes as UTF-8 (invalid bytes replaced), plus a truncation note."""
        return decode_capped(b"".join(self._chunks), self.dropped)


def decode_capped(kept: bytes, dropped: int) -> str:
    """Decode ``kept``; when ``dropped`` bytes were cut off, say so at the end.

    A multi-byte character split by the cut is not shown as a replacement character:
    its leading bytes are counted with the dropped ones instead.
    """
    if not dropped:
        return kept.decode("utf-8", errors="replace")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(kept, final=False)
    pending, _ = decoder.getstate()
    dropped += len(pending)
    sep = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{sep}[... {dropped} bytes truncated]"


def cap_bytes(data: bytes, limit: int) -> str:
    """``data`` decoded and capped at ``limit`` bytes, with the truncation note."""
    buf = CappedBuffer(limit)
    buf.feed(data)
    return buf.text()
