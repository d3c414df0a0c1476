"""What any controller that finds an unknown quota by its refusals can reach in a 20-second job.

The fake-clock simulation of ``tests/unit_tests/ratesim.py`` runs the real controller, except
that its request rate is handed to an oracle at the first quota refusal: from then on the rate
is the true quota, exactly, and never moves. No algorithm that learns from refusals can do
better after the first refusal, so what the oracle misses is the cost of starting below an
unknown quota and of the round trip that tells the client it went above.

Each start rate is run against a low quota (10/s, as Qianfan's custom services default to 1 to
10 QPS) and a middling one (60/s), at 50, 300 and 1,000 ms of latency, under the four kinds of
request quota. A start rate that meets ">= 0.9 of the bound" against 60/s refuses far more than
5% of requests against 10/s, and the reverse: no single start meets both at 1,000 ms.

    python benchmarks/unknown_quota_bound.py [--starts 10,20,30] [--seconds 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit_tests"))

from _common import summary
from ratesim import bound, simulate  # type: ignore[import-not-found]

from cn_embeddings import _ratecontrol
from cn_embeddings.testing._quotas import QuotaRule

KINDS = ("moving", "fixed", "bucket", "counting")
LATENCIES = (0.05, 0.3, 1.0)
QUOTAS = (10.0, 60.0)


class _Oracle(_ratecontrol._Cubic):
    """Slow start as the controller does it; at the first refusal, the true quota for good."""

    def __init__(self, start: float, quota: float) -> None:
        super().__init__(start, None, slow_start=True)
        self.quota = quota

    def refused(self, now: float, sent_at: float, *_: object) -> bool:
        first = self.slow_start
        self.rate, self.slow_start, self.w_max = self.quota, False, 0.0
        return first

    def accepted(self, now: float, busy: bool, round_seconds: float) -> None:
        if self.slow_start:
            super().accepted(now, busy, round_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", default="10,20,30", help="start rates to try, requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="the job's length at the quota")
    args = parser.parse_args()
    for start in (float(s) for s in args.starts.split(",")):
        for quota in QUOTAS:
            for latency in LATENCIES:
                for kind in KINDS:
                    rule = QuotaRule(kind, quota)
                    jobs = int(quota * args.seconds)

                    def adapt(controller: _ratecontrol.RateController, rule: QuotaRule, start: float = start) -> None:
                        controller._requests = _Oracle(start, rule.limit / rule.window)

                    run, _ = simulate(rule, jobs=jobs, latency=latency, adapt=adapt)
                    name = f"oracle_start{start:g}_quota{quota:g}_{kind}_{latency * 1000:g}ms_vs_bound"
                    summary(name, bound(rule, jobs) / run.seconds, 100 * run.refused_share)


if __name__ == "__main__":
    main()
