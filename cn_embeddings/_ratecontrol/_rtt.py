"""The latency estimate of RFC 6298: a smoothed round-trip time and its variation."""

from __future__ import annotations

__all__ = ["RttEstimator"]

ALPHA, BETA, K = 1 / 8, 1 / 4, 4  # RFC 6298 section 2
INITIAL = 1.0  # seconds assumed before the first answer (RFC 6298's initial RTO)


class RttEstimator:
    """SRTT and RTTVAR from answer times; ``latency`` is SRTT + 4 RTTVAR, what Little's law needs
    so that a latency spike does not starve the rate."""

    def __init__(self) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0

    def observe(self, sample: float) -> None:
        sample = max(sample, 0.0)
        if self.srtt is None:
            self.srtt, self.rttvar = sample, sample / 2
        else:
            self.rttvar += BETA * (abs(self.srtt - sample) - self.rttvar)
            self.srtt += ALPHA * (sample - self.srtt)

    @property
    def latency(self) -> float:
        return INITIAL if self.srtt is None else self.srtt + K * self.rttvar
