"""Streams that overlap in threads with bounded memory: read ahead in one thread
(:func:`prefetch`), map over items in several (:func:`parallel_map`), count what reaches the
consumer (:class:`Counted`). Scoring runs read, predict and write this way, so a day of any size
holds only a few chunks at once."""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

PIPELINE_DEPTH = 2
"""Chunks each stage may run ahead of the next: memory is about (3 × depth + 3) chunks at most."""

T = TypeVar("T")
U = TypeVar("U")


def default_workers() -> int:
    """Predicting threads: one per core the process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int = PIPELINE_DEPTH) -> Iterator[T]:
    """Iterate ``items`` in a worker thread, up to ``depth`` items ahead of the consumer.

    An exception in the worker is raised in the consumer; a consumer that stops early stops the
    worker (and closes ``items`` in the worker's thread, where it was opened).
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="sluice-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


def parallel_map(
    fn: Callable[[T], U], items: Iterable[T], workers: int, depth: int = PIPELINE_DEPTH
) -> Iterator[U]:
    """``fn`` over ``items`` in ``workers`` threads, results in order, at most ``workers + depth``
    items in flight. Each worker thread runs with one OpenMP/BLAS thread: the parallelism is
    across chunks, which keeps every core busy without threads waiting on each other's barriers."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    def call(item: T) -> U:
        with threadpool_limits(limits=1):
            return fn(item)

    pending: deque[Future] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="sluice-predict") as pool:
        try:
            for item in items:
                pending.append(pool.submit(call, item))
                if len(pending) >= workers + depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class Counted:
    """Counts the batches and rows that pass through to the writer, and keeps the error that
    ended the stream (a database driver pulling the stream reports it as its own)."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self.batches, self.chunks, self.rows = iter(batches), 0, 0
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[Any]:
        try:
            for batch in self.batches:
                self.chunks += 1
                self.rows += batch.num_rows
                yield batch
        except BaseException as exc:
            self.error = exc
            raise
