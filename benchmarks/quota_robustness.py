"""Rate control against a randomized family of vendors it was not tuned to, on a fake clock.

No vendor documents how its quota counts, how fast it answers or refuses, or how many tokens it
reports (docs/wire-reference.md §8.4), so one emulator is one guess. This draws ``--models``
vendors from a seeded generator, across: quota kinds (moving, fixed, token bucket, a window that
counts refused requests, a token quota, a concurrency cap); quotas from 2 to 300 requests/s;
latency from 20 to 1,500 ms with lognormal jitter of 0-40%; decided on arrival or as answers
leave; refusals at once or after the latency; usage reported at 0.3-5x the client's estimate
(with a generous documented token quota, so the token pacer runs); random overload answers
(0-20%); Retry-After or not; the quota told in headers or not; the quota halved or doubled
mid-job; a burst of 12 refusals that has nothing to do with the rate; a second sender on the
account for part of the job; a start from a rate remembered at 0.2x, 1x or 3x the quota.

Each model is a job of about 20 s at its quota. Its figure is the time the *even-pacing bound*
takes over the time the controller takes: the even-pacing bound is the best of evenly paced
senders that know the quota available at every moment (its changes and the second sender's
share included) and pace at a fixed share of it (0.88, 0.94 or 1.00), never moving for a refusal, among
those with at most 5% refused. The table gives percentiles over the models, the share refused,
the worst ten models with why each is hard, then the targeted scenarios (no quota, recovery
after a burst or a second sender, remembered starts, ten runs in a row).

    python benchmarks/quota_robustness.py [--models 200] [--seed 7] [--ablate all] [--package PATH]

``--package`` runs another checkout's ``cn_embeddings`` (a side-by-side run with an older main).
``--ablate`` reruns the same sample with one rule of the controller removed at a time, or with a
constant set (``_learner.HOLD=10``, ``_inflight.BETA=0.5``; ``burst=2``, ``window=8`` and
``start-rate=30`` for the cold start), ``+`` joining several into one run.
"""

from __future__ import annotations

import argparse
import importlib
import math
import multiprocessing
import random
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOKENS = 100  # the client's estimate per request
MAX_JOBS = 2000  # requests per model at most (--max-jobs)


@dataclass(frozen=True)
class Model:
    index: int
    kind: str
    quota: float  # requests per second (for tokens: what the token quota allows at the reported usage)
    latency: float
    jitter: float
    admit: str
    late: bool
    usage: float
    overload: float
    retry_after: float | None
    told: bool
    change: float | None  # the factor the quota changes by at half the job
    burst: bool
    other: bool
    remembered: float | None  # the start, as a share of the quota

    @property
    def jobs(self) -> int:
        return max(40, min(round(self.quota * 20), MAX_JOBS))

    @property
    def seconds(self) -> float:
        return self.jobs / self.quota

    def describe(self) -> str:
        extras = [
            f"{self.admit}{'' if self.admit == 'departure' else (', late' if self.late else ', fast')}",
            f"usage {self.usage:.2g}x",
        ]
        extras += [f"overload {self.overload:.0%}"] if self.overload else []
        extras += ["Retry-After"] if self.retry_after else []
        extras += ["told"] if self.told else []
        extras += [f"quota x{self.change:g} mid-job"] if self.change else []
        extras += ["12-refusal burst"] if self.burst else []
        extras += ["second sender"] if self.other else []
        extras += [f"remembered {self.remembered:g}x"] if self.remembered else []
        return (
            f"#{self.index} {self.kind} {self.quota:.3g}/s, {self.latency * 1000:.0f} ms "
            f"(jitter {self.jitter:.0%}): " + ", ".join(extras)
        )


def draw(rng: random.Random, index: int) -> Model:
    kind = rng.choice(("moving", "fixed", "bucket", "counting", "tokens", "inflight"))
    quota = math.exp(rng.uniform(math.log(2), math.log(300)))
    latency = math.exp(rng.uniform(math.log(0.02), math.log(1.5)))
    return Model(
        index,
        kind,
        quota,
        latency,
        rng.uniform(0, 0.4),
        "arrival" if kind == "inflight" else rng.choice(("arrival", "departure")),  # a cap counts on arrival
        rng.random() < 0.5,
        math.exp(rng.uniform(math.log(0.3), math.log(5))),
        rng.uniform(0, 0.2) if rng.random() < 1 / 3 else 0.0,
        1.0 if rng.random() < 0.5 else None,
        kind not in ("inflight",) and rng.random() < 0.25,
        rng.choice((0.5, 2.0)) if kind != "inflight" and rng.random() < 0.2 else None,
        rng.random() < 0.2,
        kind != "inflight" and rng.random() < 0.2,
        rng.choice((0.2, 1.0, 3.0)) if kind != "inflight" and rng.random() < 0.25 else None,
    )


# -- one model ------------------------------------------------------------------------------------


def _setup(model: Model):
    from ratesim import Vendor  # type: ignore[import-not-found]

    from cn_embeddings._ratecontrol import Quota, Source
    from cn_embeddings.testing._quotas import QuotaRule

    reported = round(TOKENS * model.usage)
    if model.kind == "tokens":
        rule = QuotaRule("tokens", model.quota * reported)
    elif model.kind == "inflight":
        rule = QuotaRule("inflight", max(1.0, round(model.quota * model.latency)))
    else:
        rule = QuotaRule(model.kind, max(1.0, round(model.quota)))
    told = None
    if model.told:
        told = Quota(None, rule.limit * 60, origin=Source.TOLD) if model.kind == "tokens" else None
        told = told or Quota(rule.limit, origin=Source.TOLD)
    half = model.seconds / 2
    vendor = Vendor(
        latency=model.latency,
        jitter=model.jitter,
        lognormal=True,
        admit=model.admit,
        refuse_after=None if model.late else 0.005,
        usage=model.usage,
        overload=model.overload,
        retry_after=model.retry_after,
        told=told,
        change=(half, model.change) if model.change else None,
        burst=(model.seconds / 3, 12) if model.burst else None,
        other=(model.seconds * 0.2, model.seconds * 0.6, 0.5) if model.other else None,
    )
    # what the vendor tables would say: no request quota, a generous token quota (the token pacer
    # runs, and learns the reported usage)
    documented_tpm = 20 * model.quota * TOKENS * 60 if model.kind != "tokens" else None
    return rule, vendor, documented_tpm


def available(model: Model, rule, t: float) -> float:
    """Requests per second the vendor admits at ``t`` for this sender (the even senders' oracle)."""
    if rule.kind == "inflight":
        return rule.limit / model.latency
    rate = rule.limit / rule.window
    if rule.kind == "tokens":
        rate /= round(TOKENS * model.usage)
    if model.change and t >= model.seconds / 2:
        rate *= model.change
    if model.other and model.seconds * 0.2 <= t < model.seconds * 0.6:
        rate *= 0.5
    return rate


def run_model(model: Model, seed: int, ablate: str | None = None) -> dict:
    """The controller's run and the even-pacing bound on one model."""
    from ratesim import simulate  # type: ignore[import-not-found]

    from cn_embeddings._ratecontrol import Quota, Source

    apply_ablation(ablate)
    rule, vendor, tpm = _setup(model)
    start = None
    if model.remembered:
        start = Quota(model.quota * model.remembered, tpm, origin=Source.REMEMBERED)
    elif tpm:
        start = Quota(None, tpm, origin=Source.DOCUMENTED)
    limit = model.seconds * 20  # a run cut off there counts as failed
    try:
        run, _ = simulate(rule, quota=start, jobs=model.jobs, tokens=TOKENS, vendor=vendor, seed=seed, limit=limit)
    except ArithmeticError:  # the controller itself failed: the model counts as failed
        return {"model": model, "ratio": 0.0, "refused": 1.0, "seconds": math.inf, "even": math.nan, "crashed": 1}
    finished = run.requests and len(run.accepted) >= model.jobs
    best = math.inf
    for share in (0.88, 0.94, 1.0):

        def oracle(controller, t: float, share: float = share) -> None:
            rate = share * available(model, rule, t)
            learner = controller.requests
            if learner.rate != rate:
                learner.rate = learner.w_max = learner.ceiling = rate

        def fixed(controller) -> None:
            controller.requests.refused = lambda *args, **kwargs: False
            controller.tokens.refused = lambda *args, **kwargs: False

        quota = Quota(share * available(model, rule, 0.0), origin=Source.CONFIGURED)
        try:
            even, _ = simulate(
                rule, quota=quota, jobs=model.jobs, tokens=TOKENS, vendor=replace(vendor, told=None),
                seed=seed, prepare=fixed, hook=oracle, limit=limit,
            )  # fmt: skip
        except ArithmeticError:  # an older controller's token estimate failed: this share has no figure
            continue
        if even.refused_share <= 0.05 and len(even.accepted) >= model.jobs:
            best = min(best, even.seconds)
    if not math.isfinite(best):
        best = model.seconds
    return {
        "model": model,
        "ratio": best / run.seconds if finished else 0.0,
        "refused": run.refused_share,
        "seconds": run.seconds,
        "even": best,
        "crashed": 0,
    }


# -- targeted scenarios ---------------------------------------------------------------------------


def no_quota(latency: float, seed: int) -> float:
    """The controller's time over a plain loop's with 16 in flight (no quota anywhere)."""
    from ratesim import Vendor, simulate  # type: ignore[import-not-found]

    vendor = Vendor(latency=latency, jitter=0.2, lognormal=True)
    jobs = 2000
    run, _ = simulate(None, jobs=jobs, vendor=vendor, seed=seed)

    from cn_embeddings._ratecontrol import RateController

    loop = RateController(None, 16, adaptive=False)
    now = [0.0]
    loop.clock = lambda: now[0]
    base, _ = simulate(None, jobs=jobs, vendor=vendor, seed=seed, controller=loop, clock=now)
    return base.seconds / run.seconds


def recovery(case: str, seed: int) -> tuple[float | None, float]:
    """Seconds until 5 s of answers hold 0.9 of a 10/s quota after a burst of 12 refusals, after a
    second sender stops, or from a remembered rate 5x too low; and the share refused."""
    from ratesim import Vendor, simulate  # type: ignore[import-not-found]

    from cn_embeddings._ratecontrol import Quota, Source
    from cn_embeddings.testing._quotas import QuotaRule

    rule = QuotaRule("moving", 10.0)
    vendor, quota, after = Vendor(latency=0.3, jitter=0.2, lognormal=True), None, 0.0
    if case == "burst":
        vendor, after = replace(vendor, burst=(20.0, 12)), 20.0
    elif case == "second sender":
        vendor, after = replace(vendor, other=(5.0, 40.0, 0.5)), 40.0
    elif case == "remembered 0.2x":
        quota = Quota(2.0, origin=Source.REMEMBERED)
    elif case == "remembered 3x":
        quota = Quota(30.0, origin=Source.REMEMBERED)
    run, _ = simulate(rule, quota=quota, jobs=1500, vendor=vendor, seed=seed)
    return run.reached(9.0, after), run.refused_share


def in_a_row(seed: int) -> list[float]:
    """Ten runs in a row, each remembering for the next, each meeting 2 refusals at start-up
    (Retry-After: 1): the rate each starts from."""
    from ratesim import Vendor, simulate  # type: ignore[import-not-found]

    from cn_embeddings._ratecontrol import Quota, Source
    from cn_embeddings.testing._quotas import QuotaRule

    rule = QuotaRule("moving", 10.0)
    vendor = Vendor(latency=0.3, jitter=0.2, lognormal=True, burst=(0.0, 2), retry_after=1.0)
    kept: list[float] = []
    starts = []
    for run_number in range(10):
        quota = Quota(kept[-1], origin=Source.REMEMBERED) if kept else None
        starts.append(kept[-1] if kept else 0.0)

        def prepare(controller) -> None:
            controller.remember = kept.append

        simulate(rule, quota=quota, jobs=200, vendor=vendor, seed=seed + run_number, prepare=prepare)
    starts.append(kept[-1] if kept else 0.0)
    return starts


# -- ablations ------------------------------------------------------------------------------------

ABLATIONS = ("drain", "hold", "startup", "once-per-window", "throttle-backoff", "measure", "delivery-cap")


def apply_ablation(name: str | None) -> None:
    """Remove one rule of the controller (by patching this process's copy)."""
    if not name:
        return
    if "+" in name:  # several at once
        for part in name.split("+"):
            apply_ablation(part)
        return
    from cn_embeddings._ratecontrol import _controller, _inflight, _learner

    learner = _learner.RateLearner
    name, _, value = name.partition("=")
    if "." in name:  # a constant of one part, e.g. "_learner.HOLD=10"
        module_name, _, constant = name.partition(".")
        module = importlib.import_module(f"cn_embeddings._ratecontrol.{module_name}")
        setattr(module, constant, type(getattr(module, constant))(value))
    elif name == "burst":  # the cold start's burst, in requests
        _controller.INITIAL_BURST = int(value)
    elif name == "window":  # the slow start's first window, in requests
        _inflight.INITIAL_WINDOW = int(value)
    elif name == "start-rate":  # the start's pacing before any answer
        _learner.START_RATE = float(value)
    elif name == "drain":  # pacing resumes at once after a decrease (or after Retry-After)
        _controller.RateController._restart = lambda self, now, pause=0.0: self.pacer.restart(now + pause, now)
    elif name == "hold":  # no plateau before CUBIC probes (or one of ``value`` seconds)
        _learner.HOLD = _inflight.HOLD = float(value or 0.0)
    elif name == "startup":  # the start unpaced: only the slow-start window bounds it
        _learner.START_RATE = 1e9
    elif name == "once-per-window":  # every refusal may decrease
        _learner.WINDOW = 0.0
    elif name == "throttle-backoff":  # the once-per-window window never doubles
        plain_refused = learner.refused

        def refused(self, *args, **kwargs):
            self.untested = 0
            return plain_refused(self, *args, **kwargs)

        learner.refused = refused
    elif name == "measure":  # every decrease is CUBIC's, the admitted rate unused
        plain_measure = learner.refused
        learner.refused = lambda self, now, sent_at, sent_rate, admitted: plain_measure(
            self, now, sent_at, sent_rate, 0.0 if not self.starting else admitted
        )
    elif name == "delivery-cap":
        _learner.DELIVERY_CAP = math.inf
    else:
        raise SystemExit(f"unknown ablation {name!r}; one of {', '.join(ABLATIONS)}")


# -- the report -----------------------------------------------------------------------------------


def _pool_init(package: str | None, max_jobs: int = MAX_JOBS) -> None:
    global MAX_JOBS
    MAX_JOBS = max_jobs
    if package:
        sys.path.insert(0, package)
    sys.path.insert(1 if package else 0, str(HERE.parent / "tests" / "unit_tests"))


def _task(args: tuple[Model, int, str | None]) -> dict:
    return run_model(*args)


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    pick = lambda p: ordered[min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))]  # noqa: E731
    return pick(0.05), statistics.median(ordered), pick(0.95)


def sample(models: int, seed: int, ablate: str | None, pool, reseed: int = 0) -> list[dict]:
    """The same models for every ``ablate``; ``reseed`` draws other latencies and refusals for them."""
    rng = random.Random(seed)
    drawn = [draw(rng, i) for i in range(models)]
    return pool.map(_task, [(m, seed + m.index + reseed, ablate) for m in drawn])


def summarize(label: str, results: list[dict]) -> str:
    ratios = [r["ratio"] for r in results]
    refused = [100 * r["refused"] for r in results]
    p5, p50, p95 = percentiles(ratios)
    slow = sum(1 for r in results if r["ratio"] < 1 / 1.5)
    crashed = sum(r["crashed"] for r in results)
    r5, r50, r95 = percentiles(refused)
    return (
        f"| {label} | {p5:.2f} | {p50:.2f} | {p95:.2f} | {min(ratios):.2f} | {slow} | {r50:.1f}% | {r95:.1f}% |"
        f" {max(refused):.0f}% | {crashed} |"
    )


HEADER = (
    "| run | p5 | median | p95 | worst | slower than 1.5x | refused median | refused p95 | refused worst | failed |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ablate", default="", help=f"'all' or a comma list of {', '.join(ABLATIONS)}")
    parser.add_argument("--package", default=None, help="a checkout whose cn_embeddings to run")
    parser.add_argument("--no-scenarios", action="store_true")
    parser.add_argument("--max-jobs", type=int, default=2000, help="requests per model at most")
    args = parser.parse_args()
    _pool_init(args.package, args.max_jobs)
    spawn = multiprocessing.get_context("spawn")

    def fresh():  # an ablation patches its workers: each gets processes of its own
        return spawn.Pool(initializer=_pool_init, initargs=(args.package, args.max_jobs))

    with fresh() as pool:
        results = sample(args.models, args.seed, None, pool)
        print(f"{args.models} vendor models (seed {args.seed}); ratio: the even-pacing bound's time over the run's\n")
        print(HEADER)
        print(summarize(args.package or "this checkout", results), flush=True)
        asked = [a for a in args.ablate.split(",") if a]
        ablations = [n for a in asked for n in (ABLATIONS if a == "all" else (a,))]
        if ablations:  # the noise: the same models, other simulation seeds
            print(summarize("the same, other seeds", sample(args.models, args.seed, None, pool, reseed=10_000)))
        for name in ablations:
            with fresh() as own:
                print(summarize(f"without {name}", sample(args.models, args.seed, name, own)), flush=True)
        print("\nThe worst ten models:\n")
        for r in sorted(results, key=lambda r: r["ratio"])[:10]:
            print(f"- {r['ratio']:.2f}, {100 * r['refused']:.1f}% refused: {r['model'].describe()}")
        if args.no_scenarios:
            return
        print("\nNo quota (time of a plain loop with 16 in flight over the run's, median of 3 seeds):\n")
        for latency in (0.02, 0.05, 0.3, 1.0, 1.5):
            ratios = pool.starmap(no_quota, [(latency, s) for s in range(3)])
            print(f"- {latency * 1000:.0f} ms: {statistics.median(ratios):.2f}")
        print("\nRecovery to 0.9 of a 10/s quota (seconds, 5 seeds; share refused):\n")
        for case in ("burst", "second sender", "remembered 0.2x", "remembered 3x"):
            runs = pool.starmap(recovery, [(case, s) for s in range(5)])
            times = ["never" if t is None else f"{t:.0f}" for t, _ in runs]
            print(f"- {case}: {', '.join(times)} s; refused {max(r for _, r in runs):.1%} at most")
        print("\nTen runs in a row, each meeting 2 refusals at start-up (the rate each starts from):\n")
        print("- " + ", ".join(f"{s:.1f}" for s in in_a_row(args.seed)))


if __name__ == "__main__":
    main()
