"""Shared pieces of the benchmarks: an emulator in its own process, timing, and reporting.

The emulator runs as a separate process (``cn-embeddings emulator``) so its work
does not share the client's interpreter. Every scenario runs its contenders
side by side, interleaved, several times, and reports medians and ratios.
``BENCH_USAGE_SCALE=1.3`` makes every answer report 1.3 times the tokens (a vendor whose
tokenizer counts more than the client estimates); the emulator is always the installed package's,
so a run with another checkout on ``PYTHONPATH`` races the same server.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cn_embeddings.testing import Credentials

USAGE_SCALE_ENV = "BENCH_USAGE_SCALE"  # every answer reports this many times the tokens (the emulator's usage scale)
_EMULATOR = Credentials()  # the emulator's public test credentials
CREDS = {
    "secret_id": _EMULATOR.secret_id,
    "secret_key": _EMULATOR.secret_key,
    "qianfan": _EMULATOR.qianfan_api_key,
    "ark": _EMULATOR.ark_api_key,
}


@dataclass
class Server:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def emulator(
    latency_ms: float = 0,
    qps: float | None = None,
    rate_limit_rate: float = 0.0,
    quota_kind: str = "bucket",
    rate_limit_code: str = "quota",
    extra: Sequence[str] = (),
) -> Iterator[Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "cn_embeddings.cli", "emulator", "--port", str(port), "--latency-ms", str(latency_ms)]
    if qps:
        args += ["--qps", str(qps), "--quota-kind", quota_kind]
    if rate_limit_rate:
        args += ["--rate-limit-rate", str(rate_limit_rate), "--rate-limit-code", rate_limit_code]
    args += list(extra)  # any other emulator flags
    args += ["--usage-scale", os.environ.get(USAGE_SCALE_ENV, "1.0")]
    # the installed package's emulator, whichever checkout the clients come from (--package runs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert "listening" in (proc.stdout.readline() if proc.stdout else "")
        yield Server(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def side_by_side(contenders: dict[str, Callable[[], object]], repetitions: int) -> dict[str, list[float]]:
    """Run every contender once per round, rounds interleaved, so noise hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repetitions):
        for name, fn in contenders.items():
            times[name].append(timed(fn)[0])
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(name: str, ratio: float, value: float) -> None:
    """The one line per scenario that scripts parse: ``name ratio value``."""
    print(f"{name} {ratio:.2f} {value:.4f}", flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free 127.0.0.1 port; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def emulator_env(server: Server) -> dict[str, str]:
    """Environment that points the CLI's clients at an emulator."""
    return {
        **os.environ,
        "QIANFAN_BASE_URL": server.url + "/v2",
        "QIANFAN_API_KEY": CREDS["qianfan"],
        "TENCENTCLOUD_ES_BASE_URL": server.url,
        "TENCENTCLOUD_SECRET_ID": CREDS["secret_id"],
        "TENCENTCLOUD_SECRET_KEY": CREDS["secret_key"],
        "ARK_BASE_URL": server.url + "/api/v3",
        "ARK_API_KEY": CREDS["ark"],
    }
