"""Training data as the reader sees it: windows with start/end labels, and length-bucketed batches.

Why the reader's own windows: questions and paragraphs are cut by
:func:`docqa.pipelines.components.readers.qa_windows.build_windows` — the function ``DocQAReader`` calls —
    with
the same ``max_seq_length``/``stride``/``max_question_tokens``, so a model is trained on exactly the inputs
it will see. Windows of similar length are batched together (inside shuffled pools) so little compute
goes to padding; the batches depend only on (seed, epoch), so a resumed run replays them exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from docqa.pipelines.components.readers.qa_windows import Window, build_windows, char_span_to_tokens
from docqa.pipelines.squad import SquadExample
from docqa.pipelines.training.settings import TrainingConfig


@dataclass
class TrainFeature:
    """One training window and its label (token positions; both ``cls_index`` = "no answer here")."""

    window: Window
    start: int
    end: int
    has_answer: bool
    example: int


@dataclass
class FeatureStats:
    questions: int = 0
    windows: int = 0
    answer_windows: int = 0
    answer_in_no_window: int = 0  # answerable questions whose answer no window holds whole
    inexact_labels: int = 0  # labels whose tokens cover more text than the answer (sub-word answers)


def _features_of(tokenizer, examples: Sequence[SquadExample], first_index: int, *, max_seq_length: int,
                 stride: int, max_question_tokens: int) -> tuple[list[TrainFeature], FeatureStats]:
    features: list[TrainFeature] = []
    stats = FeatureStats(questions=len(examples))
    for offset, ex in enumerate(examples):
        windows = build_windows(tokenizer, ex.question, [ex.context], max_seq_length=max_seq_length,
                                stride=stride, max_question_tokens=max_question_tokens)
        answer = ex.answers[0] if ex.answers else None
        found = False
        for window in windows:
            span = char_span_to_tokens(window, answer.start, answer.end) if answer else None
            if span is None:
                features.append(TrainFeature(window, window.cls_index, window.cls_index, False,
                                             first_index + offset))
                continue
            found = True
            start, end = span
            if (window.offsets[start, 0], window.offsets[end, 1]) != (answer.start, answer.end):
                stats.inexact_labels += 1
            features.append(TrainFeature(window, start, end, True, first_index + offset))
        stats.windows += len(windows)
        stats.answer_windows += sum(1 for f in features[len(features) - len(windows):] if f.has_answer)
        if answer is not None and not found:
            stats.answer_in_no_window += 1
    return features, stats


_WORKER_STATE: dict = {}


def _worker_chunk(bounds: tuple[int, int]) -> tuple[list[TrainFeature], FeatureStats]:
    state = _WORKER_STATE
    lo, hi = bounds
    return _features_of(state["tokenizer"], state["examples"][lo:hi], lo, **state["settings"])


def build_training_features(tokenizer, examples: Sequence[SquadExample], *, max_seq_length: int,
                            stride: int, max_question_tokens: int, workers: int = 1
                            ) -> tuple[list[TrainFeature], FeatureStats]:
    """Windows of every question (via :func:`build_windows`, as the reader reads) with start/end labels.

    The label is the first located answer; a window that does not hold it whole, or any window of an
    unanswerable question, points both positions at its ``cls_index``. ``workers`` > 1 cuts the
    questions into chunks tokenised by forked processes (about 2 ms per question on one core: 115k
    questions take 4 minutes alone); the result is identical, in the same order.
    """
    settings = {"max_seq_length": max_seq_length, "stride": stride,
                "max_question_tokens": max_question_tokens}
    if workers <= 1 or len(examples) < 2000:
        return _features_of(tokenizer, examples, 0, **settings)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _WORKER_STATE.update(tokenizer=tokenizer, examples=examples, settings=settings)
    try:
        step = max(500, -(-len(examples) // (workers * 4)))
        chunks = [(lo, min(lo + step, len(examples))) for lo in range(0, len(examples), step)]
        features: list[TrainFeature] = []
        stats = FeatureStats(questions=len(examples))
        context = multiprocessing.get_context("fork")  # workers inherit the examples, nothing is pickled in
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for part, part_stats in pool.map(_worker_chunk, chunks):
                features += part
                for name in ("windows", "answer_windows", "answer_in_no_window", "inexact_labels"):
                    setattr(stats, name, getattr(stats, name) + getattr(part_stats, name))
        return features, stats
    finally:
        _WORKER_STATE.clear()


def bucketed_batches(lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int,
                     pool: int = 50) -> list[list[int]]:
    """Shuffled batches of similar-length items: shuffle, sort inside pools of ``pool`` batches by
    length, cut into batches, shuffle the batches. Depends only on (seed, epoch): resumable."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    chunk = batch_size * max(1, pool)
    batches: list[list[int]] = []
    for i in range(0, len(order), chunk):
        part = sorted((int(j) for j in order[i : i + chunk]), key=lambda j: lengths[j])
        batches += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def epoch_plan(features: Sequence[TrainFeature], config: TrainingConfig) -> list[list[list[int]]]:
    """The batches of every epoch, fixed up front (the LR schedule needs the total step count)."""
    lengths = [f.window.length for f in features]
    plans = []
    for epoch in range(config.epochs):
        if epoch < config.answerable_warmup_epochs:
            chosen = [i for i, f in enumerate(features) if f.has_answer]
        else:
            chosen = list(range(len(features)))
        batches = bucketed_batches([lengths[i] for i in chosen], config.batch_size, seed=config.seed,
                                   epoch=epoch, pool=config.bucket_pool)
        plans.append([[chosen[i] for i in batch] for batch in batches])
    return plans
