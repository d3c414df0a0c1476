"""Volcengine V4 signing against the official SDK's SignerV4, with the clock fixed."""

from __future__ import annotations

import datetime
import json
from collections import OrderedDict

import httpx
import pytest
from volcengine.auth.SignerV4 import SignerV4
from volcengine.auth.SignParam import SignParam
from volcengine.Credentials import Credentials

from cn_embeddings._secret import Secret
from cn_embeddings.auth.v4 import V4Auth, sign_v4

HOST = "api-knowledgebase.mlp.cn-beijing.volces.com"
PATH = "/api/knowledge/service/rerank"
WHEN = datetime.datetime(2026, 11, 29, 23, 59, 58, tzinfo=datetime.timezone.utc)


def sdk_authorization(body: bytes, headers: dict, token: str = "", query: dict | None = None) -> str:
    param = SignParam()
    param.set_host(HOST)
    param.method = "POST"
    param.path = PATH
    param.set_body(body)
    param.set_query(OrderedDict(query or {}))
    param.set_header_list(OrderedDict(headers))
    param.set_date(WHEN)
    return SignerV4.sign_only(param, Credentials("AKLTtest", "c2VjcmV0", "air", "cn-north-1", token)).authorization


@pytest.mark.parametrize(
    "body,headers,token,query",
    [
        (
            b'{"datas":[{"query":"q","content":"\xe6\x96\x87"}],"rerank_model":"m3-v2-rerank"}',
            {"Host": HOST, "Content-Type": "application/json"},
            "",
            None,
        ),
        (b"{}", {"Host": HOST + ":443", "Content-Type": "application/json", "X-Request-Id": "abc"}, "", {"a": "1 2"}),
        (b'{"x":1}', {"Host": HOST, "Content-Type": "application/json"}, "sts-token", None),
    ],
)
def test_signature_equals_the_sdk(body, headers, token, query):
    headers = dict(headers)
    if token:
        headers["X-Security-Token"] = token
    ours = sign_v4(
        access_key="AKLTtest",
        secret_key="c2VjcmV0",
        region="cn-north-1",
        service="air",
        method="POST",
        path=PATH,
        query=query or {},
        headers=headers,
        body=body,
        x_date=WHEN.strftime("%Y%m%dT%H%M%SZ"),
    )
    assert ours["Authorization"] == sdk_authorization(body, headers, token, query)


def test_auth_signs_what_is_sent_and_keeps_secrets_out_of_its_repr():
    body = json.dumps({"datas": [{"query": "q", "content": "d"}]}).encode()
    auth = V4Auth(Secret("AKLTtest"), Secret("c2VjcmV0"), clock=lambda: WHEN.timestamp())
    request = httpx.Request(
        "POST", f"https://{HOST}{PATH}", content=body, headers={"Host": HOST, "Content-Type": "application/json"}
    )
    signed = next(auth.auth_flow(request))
    assert signed.headers["Authorization"] == sdk_authorization(
        body, {"Host": HOST, "Content-Type": "application/json"}
    )
    assert signed.headers["X-Date"] == "20261129T235958Z"
    assert "c2VjcmV0" not in repr(auth) and "AKLTtest" not in repr(auth)
