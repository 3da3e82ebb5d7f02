"""Work on every core: a function mapped over a stream in threads, results in order.

pyarrow's kernels release the GIL, so threads running them use every core.
At most one item per thread is in flight (plus the one being handed out), so
memory stays a few items whatever the length of the stream.
"""

import collections
import concurrent.futures
import itertools
import os
from typing import Callable, Iterable, Iterator, Optional, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def workers() -> int:
    """Threads worth running: one per core."""
    return os.cpu_count() or 1


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item],
                threads: Optional[int] = None) -> Iterator[Result]:
    """``map(function, items)`` computed in ``threads`` threads, yielded in the items' order.

    An error of ``function`` is raised when its result's turn comes; the
    items not yet handed out are then never read. A stream of one item (a
    small day's only block) is mapped in the caller's thread: there is
    nothing to overlap, and starting a thread per task is a cost every date
    of a backfill pays.
    """
    threads = threads or workers()
    items = iter(items)
    first = list(itertools.islice(items, 2))
    if len(first) < 2:
        yield from map(function, first)
        return
    pending: "collections.deque" = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for item in itertools.chain(first, items):
                pending.append(pool.submit(function, item))
                while len(pending) > threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
