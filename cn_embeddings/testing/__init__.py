"""An offline emulator of the three vendor APIs, for our tests and for yours.

    from cn_embeddings.testing import Emulator, Faults

    with Emulator(faults=Faults(latency_ms=20, rate_limit_rate=0.1)) as emu:
        client = emu.client("ark")          # a client wired to the emulator
        client.embed_texts(["天很蓝"])

It verifies TC3 signatures and bearer keys, enforces the documented limits,
answers in each vendor's envelope, returns deterministic vectors derived from
the input (and rerank scores: ``relevance(query, document)``, so a test can assert an exact
order), and injects latency, per-model quotas and faults. Its request log
(``emu.seen``) never holds credentials.
"""

from __future__ import annotations

from ._faults import Faults
from ._handlers import Credentials, relevance
from ._server import Emulator, Seen

__all__ = ["Credentials", "Emulator", "Faults", "Seen", "relevance"]
