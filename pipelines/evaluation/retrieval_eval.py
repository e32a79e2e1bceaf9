"""Passage-retrieval evaluation on SQuAD-format files: recall@k, MRR and query latency.

Why its own module: ``docqa eval`` and ``benchmarks/ingest_retrieve.py`` must measure retrieval the same
way, so that a number in a closing note and a number from the CLI mean the same thing. Files are read by
:mod:`docqa.pipelines.squad`; this module turns their paragraphs into passages. Neither knows anything about
    how
the index is built: the evaluator takes any callable that maps a question to a ranked list of passages
(Documents or ids).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from haystack import Document

from docqa.pipelines.squad import SquadFile, read_squad

Question = tuple[str, str, str]
"""(question id, question text, id of the gold passage)."""


def passage_id(title: str, context: str) -> str:
    """A stable id for one SQuAD paragraph: the same title and text give the same id in every run/file."""
    digest = hashlib.sha256(f"{title}\x00{context}".encode()).hexdigest()
    return f"squad-{digest[:24]}"


def squad_passages(squad: SquadFile) -> tuple[list[Document], list[Question]]:
    """One passage per paragraph of a read SQuAD file, and its answerable questions.

    Every passage gets ``meta`` ``title`` (the article title, stripped), ``source`` (the file name),
    ``article_index`` and ``paragraph_index``; its id is :func:`passage_id`, so it is stable across runs
    and identical paragraphs (e.g. in a distractor file) collapse to one passage. Questions the file marks
    ``is_impossible`` are left out because they have no gold passage to retrieve.
    """
    passages: list[Document] = []
    seen: set[str] = set()
    questions: list[Question] = []
    for paragraph in squad.paragraphs:
        title = paragraph.title.strip()
        pid = passage_id(title, paragraph.context)
        if pid not in seen:
            seen.add(pid)
            meta = {"title": title, "source": squad.path.name, "article_index": paragraph.article_index,
                    "paragraph_index": paragraph.paragraph_index}
            passages.append(Document(id=pid, content=paragraph.context, meta=meta))
        questions += [(ex.qid, ex.question, pid) for ex in paragraph.examples if not ex.marked_impossible]
    return passages, questions


def load_squad_passages(path: str | Path) -> tuple[list[Document], list[Question]]:
    """:func:`squad_passages` of the SQuAD (1.1 or 2.0) file at ``path``.

    :raises SquadFileError: naming the file and the field when it is missing or not SQuAD-shaped.
    """
    return squad_passages(read_squad(path))


def load_squad_corpus(
    path: str | Path | SquadFile, distractors: Iterable[str | Path] = ()
) -> tuple[list[Document], list[Question]]:
    """Passages of ``path`` plus every distractor file (deduplicated), and the questions of ``path`` only.

    ``path`` may also be an already read :class:`~docqa.pipelines.squad.SquadFile`.
    """
    passages, questions = squad_passages(path if isinstance(path, SquadFile) else read_squad(path))
    seen = {p.id for p in passages}
    for extra in distractors:
        more, _ = load_squad_passages(extra)
        for p in more:
            if p.id not in seen:
                seen.add(p.id)
                passages.append(p)
    return passages, questions


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def evaluate_retrieval(
    retriever_fn: Callable[[str], Sequence[Document | str]],
    questions: Sequence[Question],
    ks: Sequence[int] = (1, 5, 10, 20),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Ask every question and score where its gold passage lands.

    :param retriever_fn: question text -> ranked passages (Documents or passage ids), best first. It must
        return at least ``max(ks)`` results for recall@max(ks) to mean anything; its wall time per call is
        the query latency reported (so include query embedding in it for an honest number).
    :param questions: ``(qid, question, gold_passage_id)`` as returned by :func:`load_squad_passages`.
    :param progress: optional ``callable(done, total)`` called after each question.
    :returns: ``{"recall@k": fraction, ..., "mrr": x, "p50_ms": x, "p95_ms": x}``; MRR counts a gold
        passage that was not returned as 0.
    """
    if not questions:
        raise ValueError("evaluate_retrieval needs at least one question")
    ks = sorted(set(int(k) for k in ks))
    hits = dict.fromkeys(ks, 0)
    reciprocal = 0.0
    latencies: list[float] = []
    for n, (_qid, text, gold) in enumerate(questions, start=1):
        start = time.perf_counter()
        ranked = retriever_fn(text)
        latencies.append((time.perf_counter() - start) * 1000.0)
        ids = [r if isinstance(r, str) else r.id for r in ranked]
        try:
            rank = ids.index(gold) + 1
        except ValueError:
            rank = None
        if rank is not None:
            reciprocal += 1.0 / rank
            for k in ks:
                if rank <= k:
                    hits[k] += 1
        if progress is not None:
            progress(n, len(questions))
    total = len(questions)
    latencies.sort()
    result: dict[str, float] = {f"recall@{k}": hits[k] / total for k in ks}
    result["mrr"] = reciprocal / total
    result["p50_ms"] = _percentile(latencies, 50)
    result["p95_ms"] = _percentile(latencies, 95)
    return result
