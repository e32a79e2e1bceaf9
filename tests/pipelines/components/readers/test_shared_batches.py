"""Questions read at the same time share forward passes — and each gets the answer it gets alone."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from docqa.pipelines.components.readers.shared_batches import SharedBatches

QUESTIONS = [
    "When was the Duchy of Normandy founded?",
    "Who developed the concept of packet switching?",
    "Who improved the steam engine with a separate condenser?",
    "Who was the duke in the battle of Hastings?",
]


class RecordingModel:
    """Stands in for the model: logits that depend only on the window, and the size of every pass."""

    def __init__(self, fail_on: object = None) -> None:
        self.passes: list[int] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()

    def logits(self, windows):
        self.gate.wait(5)
        self.passes.append(len(windows))
        if self.fail_on in windows:
            raise RuntimeError("model failed")
        return [(np.full(3, w), np.full(3, -w)) for w in windows]


def _in_threads(fn, args_list):
    results: list = [None] * len(args_list)

    def run(i, args):
        try:
            results[i] = fn(*args)
        except Exception as err:  # noqa: BLE001 - the test looks at it
            results[i] = err

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_callers_waiting_during_a_pass_share_the_next_one_and_each_gets_its_own_rows():
    model = RecordingModel()
    shared = SharedBatches(model)
    model.gate.clear()  # the first pass blocks until the others have queued behind it
    first = threading.Thread(target=shared.logits, args=([100],))
    first.start()
    while not (shared._busy and not shared._pending):  # noqa: SLF001 - the first pass has taken its call
        pass
    results: dict[int, list] = {}

    def ask(n: int) -> None:
        results[n] = shared.logits([n, n + 1])

    waiting = [threading.Thread(target=ask, args=(n,)) for n in (1, 10, 20)]
    for t in waiting:
        t.start()
    while len(shared._pending) < 3:  # noqa: SLF001
        pass
    model.gate.set()
    first.join(5)
    for t in waiting:
        t.join(5)
    assert model.passes == [1, 6]  # the three waiting callers were read in one pass
    for n in (1, 10, 20):
        assert [float(start[0]) for start, _ in results[n]] == [n, n + 1]
    assert (shared.passes, shared.calls) == (2, 4)


def test_an_error_in_a_shared_pass_reaches_every_caller_of_that_pass_and_the_next_pass_runs():
    model = RecordingModel(fail_on=13)
    shared = SharedBatches(model, window_s=0.05)  # all four meet in the first pass
    out = _in_threads(shared.logits, [([n],) for n in (11, 12, 13, 14)])
    assert all(isinstance(r, RuntimeError) for r in out)
    assert [float(s[0]) for s, _ in shared.logits([7])] == [7]  # not stuck afterwards


def test_a_pass_takes_at_most_max_windows():
    model = RecordingModel()
    shared = SharedBatches(model, window_s=0.05, max_windows=4)
    out = _in_threads(shared.logits, [([n, n, n],) for n in (1, 2, 3)])
    assert sorted(model.passes) == [3, 3, 3] and all(len(r) == 3 for r in out)


@pytest.fixture
def shared_docqa(sample_index: Path, test_reader_dir: Path):
    from docqa.pipelines.api import DocQA

    qa = DocQA(sample_index, reader_model=str(test_reader_dir), reader_backend="torch")
    reader = qa.reader()
    plain = reader._backend  # noqa: SLF001 - restored: the reader is shared by the whole test process
    yield qa
    reader._backend = plain.inner if isinstance(plain, SharedBatches) else plain  # noqa: SLF001
    qa.query_embedder().encoder._query_passes = None  # noqa: SLF001 - the process-wide encoder


def test_a_batched_answer_equals_the_same_question_asked_alone(shared_docqa):
    alone = {q: shared_docqa.ask(q, use_faq=False) for q in QUESTIONS}
    shared_docqa.share_reading(window_s=0.05)  # make the concurrent questions meet
    together = _in_threads(lambda q: shared_docqa.ask(q, use_faq=False), [(q,) for q in QUESTIONS])
    backend = shared_docqa.reader()._backend  # noqa: SLF001
    assert isinstance(backend, SharedBatches) and backend.passes < backend.calls  # passes were shared
    for question, result in zip(QUESTIONS, together, strict=True):
        assert not isinstance(result, Exception), result
        expected = alone[question]
        assert [a.text for a in result.answers] == [a.text for a in expected.answers]
        assert [a.score for a in result.answers] == pytest.approx([a.score for a in expected.answers],
                                                                   abs=1e-4)
        assert result.no_answer == expected.no_answer
        assert [p.id for p in result.passages] == [p.id for p in expected.passages]
