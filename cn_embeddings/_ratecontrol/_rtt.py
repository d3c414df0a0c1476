"""The latency estimate of RFC 6298: a smoothed round-trip time and its variation; and the
spread of accepted answers' latencies, what bunches evenly sent requests where a vendor counts
them as their answers leave."""

from __future__ import annotations

from collections import deque

__all__ = ["RttEstimator"]

ALPHA, BETA, K = 1 / 8, 1 / 4, 4  # RFC 6298 section 2
INITIAL = 1.0  # seconds assumed before the first answer (RFC 6298's initial RTO)
SPREAD_SAMPLES = 64  # accepted answers the spread is taken over
LEAST_WINDOW = 10.0  # seconds the least latency is taken over (BBR's RTprop filter)


class RttEstimator:
    """SRTT and RTTVAR from answer times; ``latency`` is SRTT + 4 RTTVAR, what Little's law needs
    so that a latency spike does not starve the rate."""

    def __init__(self) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self._accepted: deque[float] = deque(maxlen=SPREAD_SAMPLES)
        self._least: deque[tuple[float, float]] = deque()  # (time, latency), latencies increasing

    def observe(self, sample: float) -> None:
        sample = max(sample, 0.0)
        if self.srtt is None:
            self.srtt, self.rttvar = sample, sample / 2
        else:
            self.rttvar += BETA * (abs(self.srtt - sample) - self.rttvar)
            self.srtt += ALPHA * (sample - self.srtt)

    def accepted(self, sample: float, now: float) -> None:
        """An accepted answer's latency (refusals may come sooner, from a gateway)."""
        self._accepted.append(sample)
        while self._least and self._least[-1][1] >= sample:
            self._least.pop()
        self._least.append((now, sample))
        while self._least[0][0] < now - LEAST_WINDOW:
            self._least.popleft()

    @property
    def least(self) -> float | None:
        """The least accepted latency of the last LEAST_WINDOW seconds (BBR's RTprop): the vendor's
        own, without the time answers waited for a busy caller."""
        return self._least[0][1] if self._least else None

    @property
    def spread(self) -> float:
        """The range of the recent accepted answers' latencies (RFC 6298's RTTVAR smooths too slowly
        from its first sample to say it after a few answers)."""
        return max(self._accepted) - min(self._accepted) if self._accepted else 0.0

    @property
    def latency(self) -> float:
        return INITIAL if self.srtt is None else self.srtt + K * self.rttvar
