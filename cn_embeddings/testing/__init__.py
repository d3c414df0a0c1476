"""An offline emulator of the three vendor APIs, for our tests and for yours.

    from cn_embeddings.testing import Emulator, Faults

    with Emulator(faults=Faults(latency_ms=20, rate_limit_rate=0.1)) as emu:
        client = emu.client("ark")          # a client wired to the emulator
        client.embed_texts(["天很蓝"])

It verifies TC3 signatures and bearer keys, enforces the documented limits,
answers in each vendor's envelope, returns deterministic vectors derived from
the input, and injects latency, per-model quotas and faults. Its request log
(``emu.seen``) never holds credentials.
"""

from __future__ import annotations

from typing import Any

from ._faults import Faults
from ._handlers import Credentials
from ._server import Emulator, Seen

__all__ = ["Credentials", "Emulator", "Faults", "Seen", "emulator_client"]

DEFAULT_MODELS = {"tencent": "WeCLIPv2-Base", "qianfan": "embedding-v1", "ark": "doubao-embedding-vision-250615"}


def emulator_client(emulator: Emulator, vendor: str, model: str | None = None, **options: Any):
    """A core client of ``vendor`` pointed at ``emulator`` with its credentials."""
    from ..clients import ArkClient, QianfanClient, TencentCloudClient

    creds = emulator.credentials
    model = model or DEFAULT_MODELS[vendor]
    if vendor == "tencent":
        return TencentCloudClient(model, secret_id=creds.secret_id, secret_key=creds.secret_key,
                                  token=creds.session_token, base_url=emulator.tencent_url, **options)
    if vendor == "qianfan":
        return QianfanClient(model, api_key=creds.qianfan_api_key, base_url=emulator.qianfan_url, **options)
    if vendor == "ark":
        return ArkClient(model, api_key=creds.ark_api_key, base_url=emulator.ark_url, **options)
    raise ValueError(f"unknown vendor {vendor!r}; one of {sorted(DEFAULT_MODELS)}")


Emulator.client = emulator_client  # type: ignore[attr-defined]
