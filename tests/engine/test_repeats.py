"""The memory of stored bodies whose byte-identical repeats skip the ingest."""

from __future__ import annotations

from alertreflex.engine.repeats import Repeats, body_digest


def test_a_repeat_is_counted_until_taken() -> None:
    """Repeats of a remembered body are counted per notification, with the last
    time, and handed out once."""
    memory = Repeats()
    digest = body_digest(b'{"alerts": []}')
    assert memory.repeat(digest, 1.0) is None
    memory.remember(digest, "n1", frozenset({"fp1"}), firing=1, resolved=0)
    assert memory.repeat(digest, 2.0) is not None
    assert memory.repeat(digest, 3.0) is not None
    assert memory.take_counts() == {"n1": (2, 3.0)}
    assert memory.take_counts() == {}


def test_a_changed_episode_makes_its_bodies_new_again() -> None:
    """After a notification changed an alert's episode (it resolved), the bodies that
    hold that alert are no longer repeats: the same firing body again is a flap for
    the full path. Bodies of other alerts stay."""
    memory = Repeats()
    memory.remember("a", "n1", frozenset({"fp1", "fp2"}), firing=2, resolved=0)
    memory.remember("b", "n2", frozenset({"fp3"}), firing=1, resolved=0)
    memory.changed(frozenset({"fp2"}))
    assert memory.repeat("a", 1.0) is None
    assert memory.repeat("b", 1.0) is not None


def test_the_memory_is_bounded_and_forgets_at_a_reload() -> None:
    """The oldest body goes past the bound; a reload forgets every body."""
    memory = Repeats(size=2)
    for i in range(3):
        memory.remember(str(i), f"n{i}", frozenset({f"fp{i}"}), firing=1, resolved=0)
    assert len(memory) == 2 and memory.repeat("0", 1.0) is None
    memory.forget()
    assert len(memory) == 0 and memory.repeat("2", 1.0) is None


def test_an_alert_in_several_bodies_is_followed_in_each() -> None:
    """An alert in three bodies (its group's notifications as the group grew): one
    body forgotten past the bound, a change of the alert still makes the other two
    new again, and a body remembered again is not listed twice."""
    memory = Repeats(size=3)
    memory.remember("a", "n1", frozenset({"fp1"}), firing=1, resolved=0)
    memory.remember("b", "n2", frozenset({"fp1", "fp2"}), firing=2, resolved=0)
    memory.remember("b", "n2", frozenset({"fp1", "fp2"}), firing=2, resolved=0)
    memory.remember("c", "n3", frozenset({"fp1", "fp3"}), firing=2, resolved=0)
    memory.remember("d", "n4", frozenset({"fp4"}), firing=1, resolved=0)  # "a" goes
    assert memory.repeat("a", 1.0) is None and memory.repeat("b", 1.0) is not None
    memory.changed(frozenset({"fp1"}))
    assert memory.repeat("b", 1.0) is None and memory.repeat("c", 1.0) is None
    assert memory.repeat("d", 1.0) is not None and len(memory) == 1
    memory.remember("e", "n5", frozenset({"fp2"}), firing=1, resolved=0)
    memory.changed(frozenset({"fp2"}))  # fp2's old body "b" is gone: only "e" drops
    assert memory.repeat("e", 1.0) is None and len(memory) == 1
