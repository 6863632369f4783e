"""Garbage-collector settings for making plans: the SDK's objects live until the plan is used up.

The SDK allocates dozens of containers per resource (Outputs, futures, tasks) and keeps the graph
alive until the end, so at the default threshold (700) every young collection, and each full one,
traverses more of it: a 20-region plan spent 45% of its time collecting and grew superlinearly.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (50_000, 50, 100)
"""Collect the young generation every 50,000 allocations; the older ones as rarely as CPython allows."""


def relax_collections() -> None:
    """For a command's process: the thresholds above until it exits, as restoring them would start a
    full collection over everything the command built (half a second for 20 regions) just before exit."""
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The thresholds above while a plan is made, then the caller's again (tests plan many stacks)."""
    previous = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
