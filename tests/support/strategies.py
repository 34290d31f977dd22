"""Hypothesis strategies shared by the tests that feed hostile data to the inspector."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(key_size: int) -> st.SearchStrategy[Any]:
    """Any small JSON value: integers past 64 bits, floats, text, nested lists and objects
    (keys of at most `key_size` characters)."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False)
        | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=key_size), children, max_size=4)
        ),
        max_leaves=12,
    )
