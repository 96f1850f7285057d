"""A per-process micro-batcher: callers on many threads, one batched call on one thread.

Concurrent searches each need one query vector. Encoding them one by one under a lock
makes the sixteenth caller wait for fifteen forward passes; a batch of sixteen costs
about three. The batcher thread takes whatever is queued, waits a bounded moment for
more, runs one call for the lot and hands each caller its own row.
"""

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass
class _Pending(Generic[ItemT, ResultT]):
    item: ItemT
    done: threading.Event = field(default_factory=threading.Event)
    result: ResultT | None = None
    error: BaseException | None = None


class MicroBatcher(Generic[ItemT, ResultT]):
    """Runs `batch_fn(items) -> results` (same length, same order) for concurrent callers."""

    def __init__(self, batch_fn: Callable[[list[ItemT]], list[ResultT]], *, max_wait_s: float, max_batch: int) -> None:
        self._batch_fn = batch_fn
        self._max_wait_s = max_wait_s
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Pending[ItemT, ResultT]] = queue.SimpleQueue()
        self._owner_pid: int | None = None
        self.batches = 0  # calls of batch_fn, for tests and benchmarks
        self._last_batch_size = 0

    def submit(self, item: ItemT) -> ResultT:
        """Block until the batch holding `item` has run; return its result or raise its error."""
        self._ensure_thread()
        pending: _Pending[ItemT, ResultT] = _Pending(item)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return cast(ResultT, pending.result)  # the batch set it before setting `done`

    def _ensure_thread(self) -> None:
        # gunicorn and Dramatiq fork after import: a thread started in the parent is not
        # in the child, so each process starts its own on first use.
        if self._owner_pid == os.getpid():
            return
        with self._lock:
            if self._owner_pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            threading.Thread(target=self._run, args=(self._queue,), name="embedding-batcher", daemon=True).start()
            self._owner_pid = os.getpid()

    def _run(self, inbox: "queue.SimpleQueue[_Pending[ItemT, ResultT]]") -> None:
        while True:
            batch = self._collect(inbox)
            try:
                results = self._batch_fn([pending.item for pending in batch])
            except BaseException as error:  # noqa: BLE001 - every waiting caller gets the error
                for pending in batch:
                    pending.error = error
            else:
                for pending, result in zip(batch, results, strict=True):
                    pending.result = result
            self.batches += 1
            for pending in batch:
                pending.done.set()

    def _collect(self, inbox: "queue.SimpleQueue[_Pending[ItemT, ResultT]]") -> list[_Pending[ItemT, ResultT]]:
        batch = [inbox.get()]
        # A lone caller after a lone caller is not waited on: the wait only pays under concurrency.
        wait = self._max_wait_s if self._last_batch_size > 1 else 0.0
        deadline = time.monotonic() + wait
        while len(batch) < self._max_batch:
            try:
                batch.append(inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(inbox.get(timeout=remaining))
            except queue.Empty:
                break
        self._last_batch_size = len(batch)
        return batch
