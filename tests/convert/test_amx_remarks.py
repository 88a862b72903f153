"""User text in remarks and YAML comments (convert.amx.remarks.one_line)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alertreflex.convert.amx.remarks import one_line


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=["Cs"])))
def test_one_line_keeps_printable_text_and_makes_the_rest_a_safe_comment(text: str) -> None:
    """Printable text is kept as it is; anything else is escaped, so that the text
    stays on its comment line: YAML reads the line as a comment, nothing more."""
    line = one_line(text)
    assert line.isprintable()
    if text.isprintable():
        assert line == text
    assert yaml.safe_load(f"a: 1  # {line}\nb: 2\n") == {"a": 1, "b": 2}
