"""Dynamic batching: concurrent requests wait up to ``max_wait_ms`` to be merged into one model
call of up to ``max_batch_size`` texts (only while the server is under load: after a round of one
text, the next request runs at once). The model runs on one worker thread, off the event loop,
so requests keep arriving (and queueing into the next call) while it computes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

Predict = Callable[[list[str], "list[str] | None", int], np.ndarray]  # texts, pairs, batch -> probs
# a round may take up to this many calls' worth of texts that are already waiting, so that
# batched_logits can sort them into calls of similar length (less padding)
GROUP_WINDOW = 4


@dataclass
class Job:
    texts: list[str]
    pairs: list[str] | None
    future: asyncio.Future
    queued: float = field(default_factory=time.perf_counter)


@dataclass
class Observer:
    """What the batcher reports (the server's Prometheus metrics); no-ops by default."""

    batch: Callable[[int], None] = lambda texts: None
    wait: Callable[[float], None] = lambda seconds: None


class Batcher:
    def __init__(self, predict: Predict, max_batch_size: int, max_wait_ms: float,
                 observer: Observer | None = None) -> None:
        self.predict, self.max_batch_size = predict, max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.observer = observer or Observer()
        self.queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slimkit-model")
        self.task: asyncio.Task | None = None
        self.last_round = 0  # texts in the last round

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """Finish every job queued so far, then stop."""
        if self.task is not None:
            await self.queue.put(None)
            await self.task
            self.task = None
        self.worker.shutdown(wait=True)

    async def submit(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        """Probabilities for ``texts``, in their order, from whichever model call they join."""
        if self.task is None:
            raise RuntimeError("the batcher is not running")
        job = Job(texts, pairs, asyncio.get_running_loop().create_future())
        await self.queue.put(job)
        return await job.future

    async def call_directly(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        """One model call on the worker thread, outside the queue (warm-up)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.worker, self.predict, texts, pairs,
                                          self.max_batch_size)

    async def _serve(self) -> None:
        while True:
            first = await self.queue.get()
            if first is None:
                return
            jobs, stopping = await self._collect(first)
            for paired in (False, True):  # one call never mixes single texts and pairs
                group = [job for job in jobs if (job.pairs is not None) == paired]
                if group:
                    await self._run(group)
            if stopping:
                await self._drain()
                return

    async def _collect(self, first: Job) -> tuple[list[Job], bool]:
        """``first`` plus what arrives within max_wait, up to max_batch_size texts; then what
        is already waiting, up to GROUP_WINDOW calls' worth. True when the stop mark was met."""
        jobs, count = [first], len(first.texts)
        # wait for company only when the last round had some: a lone client (concurrency 1)
        # is not charged max_wait on every request, a loaded server fills its calls
        deadline = time.perf_counter() + (self.max_wait if self.last_round > 1 else 0.0)
        while count < self.max_batch_size * GROUP_WINDOW:
            left = deadline - time.perf_counter()
            try:
                if count < self.max_batch_size and left > 0:
                    job = await asyncio.wait_for(self.queue.get(), left)
                else:
                    job = self.queue.get_nowait()
            except (TimeoutError, asyncio.QueueEmpty):
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            count += len(job.texts)
        return jobs, False

    async def _drain(self) -> None:
        """After the stop mark: anything still queued is answered, not dropped."""
        while not self.queue.empty():
            job = self.queue.get_nowait()
            if job is not None:
                await self._run([job])

    async def _run(self, jobs: list[Job]) -> None:
        """One round: the jobs' texts through the model (in length-sorted calls of up to
        max_batch_size), each job answered with its own rows, or with the model's error."""
        started = time.perf_counter()
        for job in jobs:
            self.observer.wait(started - job.queued)
        texts = [t for job in jobs for t in job.texts]
        self.last_round = len(texts)
        pairs = None if jobs[0].pairs is None else [p for job in jobs for p in job.pairs]
        self.observer.batch(len(texts))
        loop = asyncio.get_running_loop()
        try:
            probs = await loop.run_in_executor(self.worker, self.predict, texts, pairs,
                                               self.max_batch_size)
        except Exception as exc:  # the server answers 500 and keeps serving
            log.exception("model call failed on %d text(s)", len(texts))
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            if not job.future.done():  # a client that went away cancelled its future
                job.future.set_result(probs[start:start + len(job.texts)])
            start += len(job.texts)
