"""Bearer API-key auth (Qianfan v2, Ark) as an ``httpx.Auth``.

Passed on each ``send()`` so a user-supplied ``httpx.Client`` is authenticated
too, and the key never sits in a client's default headers where a debug dump
could print it.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .._secret import Secret


class BearerAuth(httpx.Auth):
    def __init__(self, api_key: Secret) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer " + self._api_key.get()
        yield request

    def secret_values(self) -> tuple[str, ...]:
        return (self._api_key.get(),)

    def __repr__(self) -> str:
        return "BearerAuth(api_key=**********)"
