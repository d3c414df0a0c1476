"""One emulator for the whole test session, reachable from class-level properties."""

from __future__ import annotations

import atexit
from functools import lru_cache

from cn_embeddings.testing import Emulator


@lru_cache(maxsize=1)
def shared_emulator() -> Emulator:
    emulator = Emulator().start()
    atexit.register(emulator.stop)
    return emulator


def credentials(vendor: str) -> dict:
    emu = shared_emulator()
    c = emu.credentials
    if vendor == "tencent":
        return {"secret_id": c.secret_id, "secret_key": c.secret_key, "base_url": emu.tencent_url}
    if vendor == "qianfan":
        return {"api_key": c.qianfan_api_key, "base_url": emu.qianfan_url}
    return {"api_key": c.ark_api_key, "base_url": emu.ark_url}
