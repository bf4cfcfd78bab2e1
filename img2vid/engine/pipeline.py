"""Decode in a thread pool, hand results back in order, with a bounded window in flight.

OpenCV releases the GIL while decoding, so threads give real parallelism; the window
keeps memory flat however many frames there are (an unbounded pool reached 3.4 GB at
1,000 1080p frames).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_END = object()


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    threads: int,
    window: int,
    on_wait: Callable[[], None],
    wait_step: float = 0.1,
) -> Iterator[tuple[T, cf.Future[R]]]:
    """Yield ``(item, done_future)`` in input order, running ``fn`` on at most ``window``
    items ahead of the consumer. ``on_wait`` is called every ``wait_step`` seconds while
    the next result is not ready, so the caller can report progress and honour a cancel
    even when a frame is slow. Leaving the loop early cancels what has not started."""
    ahead = prefetched(fn, items, ahead=window, threads=threads)
    with closing(ahead):
        for item, future in ahead:
            while not cf.wait([future], timeout=wait_step)[0]:
                on_wait()
            yield item, future


def prefetched(
    fn: Callable[[T], R], items: Iterable[T], *, ahead: int, threads: int | None = None
) -> Iterator[tuple[T, cf.Future[R]]]:
    """Yield ``(item, future)`` in input order at once, keeping ``fn`` running on up to
    ``ahead`` items beyond the last one yielded (in ``threads`` threads, one per item by
    default): reads that wait on a network, started before the decoder asks. The
    consumer waits on each future itself."""
    pool = cf.ThreadPoolExecutor(max_workers=max(1, threads or ahead), thread_name_prefix="img2vid-pool")
    pending: deque[tuple[T, cf.Future[R]]] = deque()
    source = iter(items)
    ran_out = False
    try:
        while True:
            while len(pending) < ahead:
                item = next(source, _END)
                if item is _END:
                    break
                pending.append((item, pool.submit(fn, item)))  # type: ignore[arg-type]
            if not pending:
                ran_out = True
                return
            yield pending.popleft()
    finally:
        # Run out: every future was yielded and is the consumer's to wait on, so each
        # runs to its end (cancelled, a read the decoder waits for failed the job).
        # Left early: what has not started is cancelled, the rest waited for.
        pool.shutdown(wait=not ran_out, cancel_futures=not ran_out)
