"""What a question's FAQ step produces: the nearest entry, a curated answer, and the combined result.

Kept beside the matcher rather than in the reader's results because every field here is about the FAQ;
:class:`FaqAskResult` still *is* an :class:`docqa.pipelines.answers.AskResult`, so the CLI, the page and the
HTTP service show it with the code they use for document answers and only add the FAQ line.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from docqa.pipelines.answers import Answer, AskResult
from docqa.pipelines.faq.files import FaqEntry


@dataclass(frozen=True)
class FaqMatch:
    """The FAQ entry closest to a question; ``matched`` when its similarity reaches the threshold."""

    entry: FaqEntry
    similarity: float
    threshold: float

    @property
    def matched(self) -> bool:
        return self.similarity >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "id": self.entry.id,
            "question": self.entry.question,
            "similarity": round(float(self.similarity), 4),
            "threshold": self.threshold,
        }


@dataclass
class FaqAnswer(Answer):
    """A curated answer. ``score`` is the similarity of the questions; ``sources`` is empty."""

    faq: dict[str, Any] | None = None  # {"id", "question", "similarity"} of the matched FAQ entry


@dataclass
class FaqAskResult(AskResult):
    """An :class:`AskResult` that also says how the question compared with the FAQ.

    ``faq`` is None when the index has no FAQ (or the FAQ was not consulted); otherwise the nearest FAQ
    entry, with ``matched`` telling whether the curated answer was used (then ``answers`` holds exactly
    that one :class:`FaqAnswer`).
    """

    faq: FaqMatch | None = None

    @property
    def from_faq(self) -> bool:
        return self.faq is not None and self.faq.matched

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["faq"] = self.faq.to_dict() if self.faq else None
        return data

    @classmethod
    def from_documents(cls, result: AskResult, match: FaqMatch | None, faq_ms: float) -> FaqAskResult:
        """A document answer with the nearest FAQ entry (below the threshold) and the FAQ time added."""
        values = {f.name: getattr(result, f.name) for f in fields(AskResult)}
        timings = dict(result.timings_ms)
        timings["faq"] = faq_ms
        timings["total"] = timings.get("total", 0.0) + faq_ms
        values["timings_ms"] = timings
        return cls(**values, faq=match)

    @classmethod
    def curated(cls, question: str, match: FaqMatch, faq_ms: float) -> FaqAskResult:
        """The curated answer of a matched FAQ entry, as written by the support team."""
        answer = FaqAnswer(
            text=match.entry.answer,
            score=float(match.similarity),
            unsure=False,
            sources=[],
            faq={
                "id": match.entry.id,
                "question": match.entry.question,
                "similarity": round(float(match.similarity), 4),
            },
        )
        timings = {"faq": faq_ms, "total": faq_ms}
        return cls(question, [answer], False, 0.0, [], timings, reader=None, faq=match)
