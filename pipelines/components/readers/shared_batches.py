"""Shared reading batches: questions read at the same time (a service's concurrent ``/ask``) share forward
passes instead of each running its own.

Why: on a CPU, several questions each calling the model at once compete for the same cores with small
batches (adaptive reading starts with the first two passages: a handful of windows), and a question's
retrieval and answer decoding leave the model idle. :class:`SharedBatches` wraps a reader backend: the
first ``logits()`` caller leads and runs the model; callers that arrive while a pass runs wait and are
then read *together* in the next pass, led by the first of them (continuous batching; an optional
``window_s`` makes the first caller wait that long for company first). Every window is computed exactly
as alone — the backend sorts windows by length and pads each batch only to its own longest — so, on the
runtimes that :func:`batch_independent` admits (not ``onnx-int8``), a batched answer equals the answer the
question gets alone (``tests/pipelines/components/readers/
test_shared_batches.py``); float sums over a differently padded batch may differ in the last bits.

Measured (``benchmarks/throughput.py``, compact reader, ``POST /ask`` over HTTP, 2 cores shared with other
work at load 3.4-5.9, 15 s per row): questions reading alone made 4.4 / 11.0 / 9.3 questions/s at 1 / 4 / 8
clients; shared passes 4.5 / 5.2 / 6.2 (window 0) and 4.9 / 4.7 / 5.9 (window 5 ms). On this CPU and
model the concurrent ONNX runs already keep both cores busy, and one pass at a time (adaptive reading
takes up to three per question, each waiting for the pass before) loses more than bigger batches save.
So the service does not share passes unless asked (``create_app(reading_batch_window_s=...)``); a bigger
reader or a GPU, where per-call overhead and batch size matter more, is where to measure it again.

The query embedder shares passes through this same class (``SentenceEncoder.share_queries``, switched on with
shared reading and by default on a GPU: its "windows" are texts and its "logits" their vectors), and it pays
even less on this CPU. Measured on 2 shared cores (``benchmarks/shared_queries.py``, 4 and 8 threads, load
0.5-3.0): a query costs 2.2-2.6 ms on onnx fp32 and 0.9-1.4 ms on onnx-int8, against a whole question's
150-250 ms; shared passes raise fp32's own rate 1.08-1.16x, still half of int8 alone. ``auto`` chose onnx-int8
for the embedder here, and int8 is never shared, so the shared configuration of ``benchmarks/throughput.py
--all --duration 10`` embedded each query alone: 6.81 / 10.15 / 10.19 questions/s at 1 / 4 / 8 clients against
6.63 / 10.58 / 10.92 reading alone in the same run (load 1.2-3.0; an earlier run: 6.44 / 9.99 / 9.74 against
6.51 / 10.96 / 11.06), the difference being the shared reading. A GPU, where each query is otherwise a launch
of its own on one device, is where query sharing is on by default and where to measure it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_MAX_WINDOWS = 256  # windows in one shared pass at most (~20 questions x 5 passages x ~2.5 windows)
# Runtimes whose output for one input depends on the rest of its batch: ONNX int8 quantises activations with
# one scale per tensor (the attention outputs in the reader's recipe, every MatMul in the embedder's), so a
# batch-mate moves the scale. Measured: compact reader, 24 calibration pairs, logits alone vs in one batch
# differ by up to 0.33 (top answers 24/24 the same); packaged MiniLM, 6 queries, cosine to the vector
# alone down to 0.982 (fp32: 1.0, max difference 3e-8). Sharing passes would make a user's answer depend on
# other users' questions, so those runtimes are never shared.
BATCH_DEPENDENT_RUNTIMES = ("onnx-int8",)


def batch_independent(runtime: str) -> bool:
    """Whether ``runtime`` gives an input the same output whatever shares its batch (padding aside)."""
    return runtime not in BATCH_DEPENDENT_RUNTIMES


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

    Callers queue their windows; ``workers`` threads each take everything queued (up to ``max_windows``)
    as one pass. With one worker, callers that arrive while a pass runs are read together in the next;
    with more, that many passes run at once (so the runtime's parallel runs are kept) and batches form
    only when every worker is busy.

    :param inner: the backend that runs the model (``TorchBackend``, ``OnnxBackend``).
    :param window_s: how long an idle worker waits for company after the first call arrives (0: none).
    :param max_windows: the most windows one pass takes; later callers go in the next pass.
    :param workers: passes run at the same time.
    """

    def __init__(self, inner: Any, window_s: float = 0.0, max_windows: int = DEFAULT_MAX_WINDOWS,
                 workers: int = 1) -> None:
        self.inner = inner
        self.window_s = window_s
        self.max_windows = max_windows
        self.workers = max(1, workers)
        self._cond = threading.Condition()
        self._pending: list[_Call] = []
        self._started = 0
        self._submitted = 0
        self.passes = 0  # forward passes run (for benchmarks and tests)
        self.calls = 0  # logits() calls served

    def __getattr__(self, name: str) -> Any:  # batch_size, pad_token_id, ... of the wrapped backend
        return getattr(self.inner, name)

    @property
    def _busy(self) -> bool:  # for tests: a call is queued or being read
        return self.calls < self._submitted

    def logits(self, windows: Sequence[Any]) -> list[Any]:
        """``inner.logits(windows)``, computed in a pass shared with concurrent callers."""
        if not windows:
            return []
        call = _Call(windows)
        with self._cond:
            while self._started < self.workers:
                self._started += 1
                threading.Thread(target=self._work, name="docqa-shared-reading", daemon=True).start()
            self._submitted += 1
            self._pending.append(call)
            self._cond.notify()
        call.event.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            if self.window_s > 0:
                time.sleep(self.window_s)
            self._run_pass()

    def _run_pass(self) -> None:
        """Read the pending calls (up to ``max_windows``) in one pass and hand each its rows."""
        with self._cond:
            batch, taken = [], 0
            while self._pending and (not batch or taken + len(self._pending[0].windows) <= self.max_windows):
                call = self._pending.pop(0)
                batch.append(call)
                taken += len(call.windows)
        if not batch:
            return
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
        with self._cond:
            self.passes += 1
            self.calls += len(batch)
        for call in batch:
            call.done = True
            call.event.set()
