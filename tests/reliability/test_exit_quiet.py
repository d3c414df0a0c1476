"""Closing at interpreter exit is silent: clients left open when the process ends print nothing."""

from __future__ import annotations

import subprocess
import sys


def test_clients_left_open_at_exit_print_nothing():
    code = (
        "from cn_embeddings import APIConnectionError, QianfanClient\n"
        "from cn_embeddings._connections import Connections\n"
        "kept = [QianfanClient(api_key='k' * 8, base_url='http://127.0.0.1:9/v2', max_retries=0) for _ in range(15)]\n"
        "for client in kept:\n"
        "    try:\n"
        "        client.embed_texts(['x'])\n"  # opens the client's own connections (nothing listens there)
        "    except APIConnectionError:\n"
        "        pass\n"
        "half = Connections.__new__(Connections)\n"  # a half-built one, as a failed __init__ leaves
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
