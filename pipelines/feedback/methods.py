"""DocQA's feedback methods (``DocQA.feedback``, ``all_feedback``, ``feedback_records``), kept beside the
feedback store rather than in the facade so that ``pipelines/api.py`` stays one screenful of composition.

Why a mixin and not a separate object: host applications call ``qa.feedback(...)`` on the one ``DocQA``
they hold (the public API since the feedback issue), and the methods need only what every ``DocQA``
has — its settings, its live index and catalog, and the reader it loaded (to name who answered).
"""

from __future__ import annotations

from typing import Any

from docqa.pipelines.feedback.limits import MAX_PASSAGE_ID_CHARS
from docqa.pipelines.feedback.store import (
    FeedbackFieldError,
    FeedbackPage,
    FeedbackRecord,
    FeedbackStore,
    FeedbackVerdict,
    build_record,
)


class FeedbackMethods:
    """Mixed into :class:`docqa.pipelines.api.DocQA`, which provides the attributes below."""

    settings: Any
    index: Any
    catalog: Any
    local_index: Any
    _reader: Any

    def feedback(
        self,
        question: str,
        passage_id: str,
        verdict: str | FeedbackVerdict,
        answer_start: int | None = None,
        answer_end: int | None = None,
        correct_answer: str | None = None,
        comment: str | None = None,
        *,
        reader: str | None = None,
    ) -> FeedbackRecord:
        """Store what a user said about an answer to ``question`` read from passage ``passage_id``.

        ``verdict``: "correct" (the span is the answer given), "wrong" (the span, if any, is the right
        answer) or "not_in_documents". The span is ``answer_start``/``answer_end`` (characters in the
        passage ``content`` as :meth:`ask` returned it) or ``correct_answer`` text found in the passage.
        The passage text, file and page are copied from the live index into the record, so the feedback
        survives re-ingesting or deleting the document; ``docqa feedback export`` turns records into
        training data. ``reader`` names the reader that answered (default: the loaded reader, else the
        configured model).

        :raises FeedbackFieldError: (an :class:`InvalidInputError`) naming the first unusable field —
            an unknown ``passage_id``, offsets outside the passage, an empty or too long text.
        """
        if not isinstance(passage_id, str) or not passage_id.strip():
            raise FeedbackFieldError("passage_id", "must not be empty")
        if len(passage_id) > MAX_PASSAGE_ID_CHARS:
            raise FeedbackFieldError("passage_id", f"is longer than {MAX_PASSAGE_ID_CHARS} characters")
        passage = self.catalog.passage(passage_id) if self.index.exists() else None
        if passage is None:
            raise FeedbackFieldError(
                "passage_id",
                f"no passage {passage_id!r} in the index at {self.catalog.location()} "
                "(its document may have been re-ingested or deleted since; ask again)",
            )
        if reader is None:
            reader = self._reader[1].name if self._reader is not None else self.settings.reader_model
        record = build_record(
            question, passage, verdict, answer_start, answer_end, correct_answer, comment, reader=reader
        )
        return FeedbackStore(self.local_index).append(record)

    def all_feedback(self) -> list[FeedbackRecord]:
        """Every stored feedback record, oldest first (``docqa feedback list`` and ``export``)."""
        return FeedbackStore(self.local_index).records()

    def feedback_records(self, offset: int = 0, limit: int = 50) -> FeedbackPage:
        """Stored feedback, oldest first: ``limit`` records from ``offset`` and the total count.

        :raises FeedbackFieldError: for a negative ``offset`` or a ``limit`` outside 1..500.
        """
        return FeedbackStore(self.local_index).page(offset, limit)
