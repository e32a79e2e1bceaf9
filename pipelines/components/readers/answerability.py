"""Is the answer in the user's documents at all? Reader evidence and retrieval evidence, combined.

Why: the reader's no-answer rule (``null − best > τ``) only asks "does *this passage* hold the answer?",
which is what SQuAD 2.0 trains and tests. In a user's collection most unanswerable questions are
*off-corpus*: nothing relevant was retrieved at all (ask the steam-engine samples who invented the
telephone). Retrieval scores see that at once, the reader alone does not: a small reader still finds a
name in a passage about engineers. So the decision "not in your documents" is a small logistic model over:

- ``margin``: the reader's best span score minus its null score (its own confidence, −null_score_diff);
- ``dense_top`` / ``dense_answer``: cosine between question and the best retrieved passage / the passage
  the answer came from (the embedder's similarity, comparable across collections);
- ``coverage_top`` / ``coverage_answer``: share of the question's content words (stemmed, stop words
  out) found in the best-covering passage / the answer's passage;
- ``rerank_top`` (only where the passages were reranked): the cross-encoder's best logit among them. It
  reads question and passage together, so "the best passage is not about the question" shows there first.
  A second model, ``answerability-rerank.json`` (``fit_answerability.py --rerank``), is fitted with it
  and judges reranked passages; passages read without reranking keep the five-feature model.

The weights are fitted by ``scripts/fit_answerability.py`` on answerable questions whose articles are
indexed (label 1) and questions whose articles are not (off-corpus: 0); its threshold is chosen together
with the reader's τ (the pair with the best in-corpus F1 that keeps off-corpus answers and the cost to
answerable questions within bounds). Both ship in the reader's model directory — ``answerability.json``
next to ``calibration.json`` — and describe that reader with the default embedder. A reader without the
file keeps the τ rule alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haystack import Document, component
from haystack.dataclasses import ExtractedAnswer

from docqa.atomic import atomic_write_json
from docqa.errors import ConfigError
from docqa.pipelines.document_stores.analysis import Tokenizer

ANSWERABILITY_FILE = "answerability.json"
RERANK_ANSWERABILITY_FILE = "answerability-rerank.json"
FEATURES = ("margin", "dense_top", "dense_answer", "coverage_top", "coverage_answer")
RERANK_FEATURES = (*FEATURES, "rerank_top")
_MARGIN_CLIP = 20.0
_terms = Tokenizer()


def coverage(question_terms: set[str], text: str) -> float:
    """Share of the question's content terms present in ``text`` (1.0 for a question with none)."""
    if not question_terms:
        return 1.0
    return len(question_terms & set(_terms(text))) / len(question_terms)


def answerability_features(question: str, documents: Sequence[Document],
                           answers: Sequence[ExtractedAnswer]) -> dict[str, float]:
    """The features of one question, from the passages read and the reader's (forced) best answer."""
    terms = set(_terms(question))
    covers = {d.id: coverage(terms, d.content or "") for d in documents}
    dense = {d.id: float(d.meta.get("dense_score") or 0.0) for d in documents}
    best = answers[0] if answers else None
    diff = best.meta.get("null_score_diff") if best is not None else None
    margin = -float(diff) if diff is not None and math.isfinite(float(diff)) else -_MARGIN_CLIP
    answer_id = best.document.id if best is not None and best.document is not None else None
    features = {
        "margin": max(-_MARGIN_CLIP, min(_MARGIN_CLIP, margin)),
        "dense_top": max(dense.values(), default=0.0),
        "dense_answer": dense.get(answer_id, 0.0) if answer_id else 0.0,
        "coverage_top": max(covers.values(), default=0.0),
        "coverage_answer": covers.get(answer_id, 0.0) if answer_id else 0.0,
    }
    reranked = [float(d.meta["rerank_score"]) for d in documents if d.meta.get("rerank_score") is not None]
    if reranked:
        features["rerank_top"] = max(reranked)
    return features


@dataclass
class AnswerabilityModel:
    """Logistic model P(answer is in the documents) over standardised ``features`` (:data:`FEATURES`, or
    :data:`RERANK_FEATURES` for reranked passages); answers below ``threshold`` are shown as "Not found in
    your documents" with the unsure candidates."""

    weights: list[float]
    bias: float
    means: list[float]
    scales: list[float]
    threshold: float
    fitted_on: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] = FEATURES

    @property
    def file_name(self) -> str:
        return RERANK_ANSWERABILITY_FILE if self.features == RERANK_FEATURES else ANSWERABILITY_FILE

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * (features[name] - m) / s for w, name, m, s
                            in zip(self.weights, self.features, self.means, self.scales, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def load(cls, model_dir: Path | None, *, reranked: bool = False) -> AnswerabilityModel | None:
        """The model shipped in ``model_dir`` for passages read as retrieved or (``reranked``) as the
        reranker ordered them; ``None`` when there is none.

        :raises ConfigError: the file exists but is unusable (names the file).
        """
        name, expected = ((RERANK_ANSWERABILITY_FILE, RERANK_FEATURES) if reranked
                          else (ANSWERABILITY_FILE, FEATURES))
        path = Path(model_dir) / name if model_dir is not None else None
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if tuple(data["features"]) != expected:
                raise ValueError(f"features {data['features']} differ from {list(expected)}")
            return cls(weights=[float(w) for w in data["weights"]], bias=float(data["bias"]),
                       means=[float(m) for m in data["means"]], scales=[float(s) for s in data["scales"]],
                       threshold=float(data["threshold"]), fitted_on=dict(data.get("fitted_on", {})),
                       features=expected)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{path}: unusable answerability model ({err}); delete it or refit with "
                              "scripts/fit_answerability.py") from err

    def save(self, model_dir: Path) -> Path:
        path = Path(model_dir) / self.file_name
        atomic_write_json(path, {"features": list(self.features), "weights": self.weights, "bias": self.bias,
                                 "means": self.means, "scales": self.scales, "threshold": self.threshold,
                                 "fitted_on": self.fitted_on})
        return path


def fit_logistic(rows: Sequence[dict[str, float]], labels: Sequence[int], *, l2: float = 1e-2,
                 iterations: int = 50, features: Sequence[str] = FEATURES,
                 ) -> tuple[list[float], float, list[float], list[float]]:
    """(weights, bias, means, scales) of an L2-regularised logistic regression (Newton steps) over
    ``features`` of ``rows``."""
    import numpy as np

    x = np.array([[r[name] for name in features] for r in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales < 1e-9] = 1.0
    xs = np.hstack([(x - means) / scales, np.ones((len(x), 1))])
    w = np.zeros(xs.shape[1])
    penalty = np.eye(xs.shape[1]) * l2
    penalty[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xs @ w, -50, 50)))
        gradient = xs.T @ (p - y) + penalty @ w
        hessian = (xs * (p * (1 - p))[:, None]).T @ xs + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1].tolist(), float(w[-1]), means.tolist(), scales.tolist()


@component
class AnswerabilityJudge:
    """Turns a confident-looking answer into "Not found in your documents" when the reader's margin and
    the retrieval evidence together say the documents do not hold it (see the module docstring).

    Usage::

        judge = AnswerabilityJudge(model_dir=reader.model_dir)   # reads answerability.json, if shipped
        out = judge.run(query=q, documents=docs, answers=read["answers"], no_answer=read["no_answer"])
        out["no_answer"], out["answerability"]["probability"]

    Without a shipped model it passes the reader's decision through unchanged.
    """

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self.model_dir = str(model_dir) if model_dir is not None else None
        self._model: AnswerabilityModel | None = None
        self._rerank_model: AnswerabilityModel | None = None
        self._loaded = False

    def warm_up(self) -> None:
        if not self._loaded:
            directory = Path(self.model_dir) if self.model_dir else None
            self._model = AnswerabilityModel.load(directory)
            self._rerank_model = AnswerabilityModel.load(directory, reranked=True)
            self._loaded = True

    @property
    def model(self) -> AnswerabilityModel | None:
        self.warm_up()
        return self._model

    def model_for(self, features: dict[str, float]) -> AnswerabilityModel | None:
        """The model fitted to passages like these: with the reranker's score when they were reranked
        and the reader ships ``answerability-rerank.json``, else the five-feature model."""
        self.warm_up()
        if "rerank_top" in features and self._rerank_model is not None:
            return self._rerank_model
        return self._model

    @component.output_types(answers=list[ExtractedAnswer], no_answer=bool, answerability=dict)
    def run(self, query: str, documents: list[Document], answers: list[ExtractedAnswer],
            no_answer: bool) -> dict[str, Any]:
        """``no_answer`` becomes True when P(in the documents) < the model's threshold; the answers are then
        marked ``meta["unsure"]`` (shown as candidates). ``answerability``: features, probability, verdict."""
        if self.model is None or not answers:
            return {"answers": answers, "no_answer": no_answer, "answerability": {}}
        features = answerability_features(query, documents, answers)
        model = self.model_for(features)
        assert model is not None
        probability = model.probability(features)
        off_corpus = probability < model.threshold
        if off_corpus and not no_answer:
            answers = [_unsure(a) for a in answers]
        return {"answers": answers, "no_answer": bool(no_answer or off_corpus),
                "answerability": {"probability": probability, "threshold": model.threshold,
                                  "not_in_documents": off_corpus, "features": features}}

    def to_dict(self) -> dict[str, Any]:
        return {"type": f"{type(self).__module__}.{type(self).__name__}",
                "init_parameters": {"model_dir": self.model_dir}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerabilityJudge:
        return cls(**data.get("init_parameters", {}))


def _unsure(answer: ExtractedAnswer) -> ExtractedAnswer:
    meta = dict(answer.meta)
    meta["unsure"] = True
    return ExtractedAnswer(query=answer.query, score=answer.score, data=answer.data, document=answer.document,
                           context=answer.context, document_offset=answer.document_offset,
                           context_offset=answer.context_offset, meta=meta)
