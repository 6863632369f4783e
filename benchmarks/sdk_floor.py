"""The Pulumi SDK's own cost per resource under `infra plan`'s mock engine: the floor under any program.

Registers N custom resources with one small input each (no components, no applies, no Azure or
Kubernetes types) through infra.plan.engine.run, the engine `infra plan` uses, and prints the
milliseconds per resource between a run of N and a run of none. No program that registers a
resource through the SDK can plan faster than this per resource.
"""

from __future__ import annotations

import sys
import time

import pulumi

from infra.plan.engine import run


def _plan(count: int) -> float:
    def program() -> None:
        for i in range(count):
            pulumi.CustomResource("bench:index:Thing", f"thing-{i}", {"value": i})

    start = time.perf_counter()
    run(program, "floor")
    return time.perf_counter() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    _plan(10)  # first run: imports and event-loop setup
    empty, full = min(_plan(0) for _ in range(3)), min(_plan(count) for _ in range(3))
    print(f"{(full - empty) / count * 1000:.3f}")


if __name__ == "__main__":
    main()
