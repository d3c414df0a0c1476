"""Run benchmark scripts against two checkouts side by side: this one and another (the main a
change started from), alternating per round so that noise hits both alike, and print each
scenario's median figure for both.

    python benchmarks/compare.py --base ../other-checkout [--rounds 2] SCRIPT[:ARGS] ...

Each side runs its own copy of the script with its own package first on the path; a scenario
line is the scripts' ``name ratio value``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def run(checkout: Path, script: str, args: list[str]) -> dict[str, tuple[float, float]]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "CN_EMBEDDINGS_REMEMBER_QUOTA": "0"}
    done = subprocess.run(
        [sys.executable, script, *args], cwd=checkout / "benchmarks", env=env, capture_output=True, text=True
    )
    found = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith((" ", "#")):
            try:
                found[parts[0]] = (float(parts[1]), float(parts[2]))
            except ValueError:
                continue
    if done.returncode:
        print(f"# {checkout.name}/{script} exited {done.returncode}: {done.stderr.strip()[-300:]}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("scripts", nargs="+", help="script.py or script.py:--flag,value")
    args = parser.parse_args()
    for spec in args.scripts:
        script, _, extra = spec.partition(":")
        extra_args = [a for a in extra.split(",") if a]
        figures: dict[str, dict[str, list[tuple[float, float]]]] = {"base": {}, "this": {}}
        for _ in range(args.rounds):
            for side, checkout in (("base", args.base.resolve()), ("this", HERE)):
                for name, figure in run(checkout, script, extra_args).items():
                    figures[side].setdefault(name, []).append(figure)
        for name in sorted(set(figures["base"]) | set(figures["this"])):
            cells = []
            for side in ("base", "this"):
                seen = figures[side].get(name)
                if seen:
                    ratio = statistics.median(f[0] for f in seen)
                    value = statistics.median(f[1] for f in seen)
                    cells.append(f"{side} {ratio:.2f} {value:.4f}")
                else:
                    cells.append(f"{side} -")
            print(f"{name} | {' | '.join(cells)}", flush=True)


if __name__ == "__main__":
    main()
