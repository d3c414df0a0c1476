"""What the cache keeps: keys that never collide by running fields together, and values that
come back as they went in (float32)."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cn_embeddings import Item
from cn_embeddings._cache._entry import Entry, decode, encode, key_of, scope_of
from cn_embeddings._inputs import Media

float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(
    vector=st.lists(float32s, min_size=1, max_size=64),
    sparse=st.none() | st.dictionaries(st.integers(0, 2**31 - 1), float32s, max_size=8),
    multi=st.none() | st.lists(st.lists(float32s, min_size=1, max_size=8), max_size=4),
    tokens=st.integers(0, 2**40),
)
def test_an_entry_comes_back_as_it_went_in(vector, sparse, multi, tokens):
    rows = [array("f", row) for row in multi] if multi is not None else None
    back = decode(encode(Entry(vector, sparse, rows, tokens)))
    assert back.vector.tolist() == vector and back.sparse == sparse and back.tokens == tokens
    assert back.multi == rows


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"cne1" + b"\x00" * 3, encode(Entry([1.0, 2.0]))[:-1]])
def test_a_value_that_is_not_an_entry_is_refused(garbage):
    with pytest.raises(ValueError):
        decode(garbage)


def test_keys_differ_by_every_field_and_never_by_fields_running_together():
    scope = scope_of("space", "document", {"instructions": None})
    keys = {
        key_of(scope, Item(text="ab")),
        key_of(scope, Item(text="a", image=Media("image", url="b"))),
        key_of(scope, Item(image=Media("image", url="ab"))),
        key_of(scope, Item(image=Media("image", data=b"ab", format="png"))),
        key_of(scope, Item(image=Media("image", data=b"ab", format="jpeg"))),
        key_of(scope, Item(video=Media("video", url="ab"))),
        key_of(scope, Item(video=Media("video", url="ab"), video_options=(("fps", 1.0),))),
        key_of(scope_of("space", "query", {"instructions": None}), Item(text="ab")),
        key_of(scope_of("space", "document", {"instructions": "Q"}), Item(text="ab")),
        key_of(scope_of("other", "document", {"instructions": None}), Item(text="ab")),
    }
    assert len(keys) == 10
    assert key_of(scope, Item(text="ab")) == key_of(
        scope_of("space", "document", {"instructions": None}), Item(text="ab")
    )
