"""Property tests: whatever a vendor answers, the parser returns the right vectors or a typed APIError."""

from __future__ import annotations

import base64
import json
import math
import struct

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cn_embeddings import APIError, Item, Media
from cn_embeddings.vendors.ark import ArkProtocol
from cn_embeddings.vendors.qianfan import QianfanProtocol
from cn_embeddings.vendors.tencent import TencentProtocol

IMG = Media(kind="image", url="https://x.test/a.png")
PROTOCOLS = {
    "tencent-mm": (TencentProtocol(model="WeCLIPv2-Base"), [Item(text="a"), Item(image=IMG), Item(text="b")]),
    "tencent-text": (TencentProtocol(model="bge-m3"), [Item(text="a"), Item(text="b")]),
    "qianfan": (QianfanProtocol(), [Item(text="a"), Item(text="b"), Item(text="c")]),
    "ark-mm-b64": (ArkProtocol(), [Item(text="a")]),
    "ark-mm-float-sparse": (ArkProtocol(encoding_format="float", sparse=True), [Item(text="a")]),
    "ark-text": (
        ArkProtocol(model="doubao-embedding-text-240715", encoding_format="float"),
        [Item(text="a"), Item(text="b")],
    ),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Response",
                    "Data",
                    "TextEmbeddings",
                    "ImageEmbeddings",
                    "Embedding",
                    "Index",
                    "Error",
                    "data",
                    "embedding",
                    "index",
                    "error",
                    "usage",
                    "code",
                    "message",
                    "sparse_embedding",
                    "value",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def check(protocol, items, response: httpx.Response) -> None:
    """Either an APIError, or one finite vector per item, all of one length."""
    try:
        result = protocol.parse_response(response, items)
    except APIError:
        return
    assert len(result.vectors) == len(items)
    assert len({len(v) for v in result.vectors}) == 1
    assert all(isinstance(x, float) and math.isfinite(x) for v in result.vectors for x in v)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(PROTOCOLS)), body=json_values, status=st.sampled_from([200, 200, 400, 429, 500]))
def test_arbitrary_json(name, body, status):
    protocol, items = PROTOCOLS[name]
    check(protocol, items, httpx.Response(status, content=json.dumps(body).encode()))


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(PROTOCOLS)), raw=st.binary(max_size=64))
def test_non_json_bodies(name, raw):
    protocol, items = PROTOCOLS[name]
    check(protocol, items, httpx.Response(200, content=raw))


def good_body(name: str, dim: int = 4) -> dict:
    vec = [0.5] * dim
    if name == "tencent-mm":
        return {
            "Response": {
                "RequestId": "r",
                "Data": {
                    "TextEmbeddings": [{"Embedding": vec, "Index": 0}, {"Embedding": vec, "Index": 1}],
                    "ImageEmbeddings": [{"Embedding": vec, "Index": 0}],
                },
            }
        }
    if name == "tencent-text":
        return {"Response": {"RequestId": "r", "Data": [{"Embedding": vec, "Index": i} for i in range(2)]}}
    if name == "qianfan":
        return {"data": [{"embedding": vec, "index": i} for i in range(3)]}
    if name == "ark-mm-b64":
        return {"data": {"embedding": base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()}}
    if name == "ark-mm-float-sparse":
        return {"data": {"embedding": vec, "sparse_embedding": [{"index": 1, "value": 0.5}]}}
    return {"data": [{"embedding": vec, "index": i} for i in range(2)]}


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(PROTOCOLS)), cut=st.integers(min_value=0, max_value=400), data=st.data())
def test_truncated_and_mutated_good_bodies(name, cut, data):
    protocol, items = PROTOCOLS[name]
    text = json.dumps(good_body(name))
    check(protocol, items, httpx.Response(200, content=text[:cut].encode()))  # truncated
    # one mutation of a number or list somewhere in the body
    body = good_body(name)
    paths = list(_paths(body))
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(st.sampled_from([None, float("nan"), float("inf"), "x", [], [1.0], True, -1, 99]))
    _set(body, path, replacement)
    check(protocol, items, httpx.Response(200, content=json.dumps(body).encode()))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _set(node, path, value):
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def test_good_bodies_parse():
    for name, (protocol, items) in PROTOCOLS.items():
        result = protocol.parse_response(httpx.Response(200, json=good_body(name)), items)
        assert len(result.vectors) == len(items), name
