"""Shared reading batches: questions read at the same time (a service's concurrent ``/ask``) share forward
passes instead of each running its own.

Why: on a CPU, several questions each calling the model at once compete for the same cores with small
batches (adaptive reading starts with the first two passages: a handful of windows), and a question's
retrieval and answer decoding leave the model idle. :class:`SharedBatches` wraps a reader backend: the
first ``logits()`` caller leads and runs the model; callers that arrive while a pass runs wait and are
then read *together* in the next pass, led by the first of them (continuous batching; an optional
``window_s`` makes the first caller wait that long for company first). Every window is computed exactly
as alone — the backend sorts windows by length and pads each batch only to its own longest — so a batched
answer equals the answer the question gets alone (``tests/pipelines/components/readers/
test_shared_batches.py``); float sums over a differently padded batch may differ in the last bits.

Measured (``benchmarks/throughput.py``, compact reader, ``POST /ask`` over HTTP, 2 cores shared with other
work at load 3.4-5.9, 15 s per row): questions reading alone made 4.4 / 11.0 / 9.3 questions/s at 1 / 4 / 8
clients; shared passes 4.5 / 5.2 / 6.2 (window 0) and 4.9 / 4.7 / 5.9 (window 5 ms). On this CPU and
model the concurrent ONNX runs already keep both cores busy, and one pass at a time (adaptive reading
takes up to three per question, each waiting for the pass before) loses more than bigger batches save.
So the service does not share passes unless asked (``create_app(reading_batch_window_s=...)``); a bigger
reader or a GPU, where per-call overhead and batch size matter more, is where to measure it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_MAX_WINDOWS = 256  # windows in one shared pass at most (~20 questions x 5 passages x ~2.5 windows)


class _Call:
    """One caller's windows and, once its pass has run, their logits (or the error of that pass)."""

    __slots__ = ("windows", "result", "error", "done", "event")

    def __init__(self, windows: Sequence[Any]) -> None:
        self.windows = list(windows)
        self.result: list[Any] = []
        self.error: BaseException | None = None
        self.done = False
        self.event = threading.Event()


class SharedBatches:
    """A reader backend whose concurrent ``logits()`` calls are served by shared forward passes.

    :param inner: the backend that runs the model (``TorchBackend``, ``OnnxBackend``).
    :param window_s: how long the first caller of an idle backend waits for others before its pass
        (0: none; callers arriving during a pass are batched anyway).
    :param max_windows: the most windows one pass takes; later callers go in the next pass.
    """

    def __init__(self, inner: Any, window_s: float = 0.0, max_windows: int = DEFAULT_MAX_WINDOWS) -> None:
        self.inner = inner
        self.window_s = window_s
        self.max_windows = max_windows
        self._lock = threading.Lock()
        self._pending: list[_Call] = []
        self._busy = False  # a leader is collecting or running a pass
        self.passes = 0  # forward passes run (for benchmarks and tests)
        self.calls = 0  # logits() calls served

    def __getattr__(self, name: str) -> Any:  # batch_size, pad_token_id, ... of the wrapped backend
        return getattr(self.inner, name)

    def logits(self, windows: Sequence[Any]) -> list[Any]:
        """``inner.logits(windows)``, computed in a pass shared with concurrent callers."""
        if not windows:
            return []
        call = _Call(windows)
        with self._lock:
            self._pending.append(call)
            lead = not self._busy
            self._busy = True
        if lead:
            if self.window_s > 0:
                time.sleep(self.window_s)
            self._run_pass()
        while not call.done:
            call.event.wait()
            if not call.done:  # promoted: lead the next pass (it includes this call)
                call.event.clear()
                self._run_pass()
        if call.error is not None:
            raise call.error
        return call.result

    def _run_pass(self) -> None:
        """Run one pass over the pending calls (up to ``max_windows``), then hand over or go idle."""
        with self._lock:
            batch, taken = [], 0
            while self._pending and (not batch or taken + len(self._pending[0].windows) <= self.max_windows):
                call = self._pending.pop(0)
                batch.append(call)
                taken += len(call.windows)
        try:
            flat = [w for call in batch for w in call.windows]
            logits = self.inner.logits(flat)
            cursor = 0
            for call in batch:
                call.result = logits[cursor:cursor + len(call.windows)]
                cursor += len(call.windows)
        except BaseException as err:  # noqa: BLE001 - every caller of the pass gets the error
            for call in batch:
                call.error = err
        with self._lock:
            self.passes += 1
            self.calls += len(batch)
            for call in batch:
                call.done = True
                call.event.set()
            if self._pending:
                self._pending[0].event.set()  # its caller wakes not done: it leads the next pass
            else:
                self._busy = False
