"""Garbage-collector settings for making plans: the SDK's objects live until the command ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic GC every 50,000 allocations instead of every 700 while a plan is made and used.

    The SDK allocates dozens of containers per resource (Outputs, futures, tasks) and keeps the graph
    alive until the end, so at the default threshold every young collection, and each full one,
    traverses more of it: a 20-region plan spent 45% of its time collecting and grew superlinearly.
    """
    previous = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
