"""How a question is matched against the passages: the one list of search modes every front end offers."""

from __future__ import annotations

from docqa.choices import Choice
from docqa.errors import InvalidInputError


class SearchMode(Choice):
    """Dense (embeddings), BM25 (keywords) or both fused ("hybrid", the default and the most accurate).

    ``.value`` is the name users type (``--mode``, the HTTP ``mode`` field, the page's selector); a
    :class:`~docqa.choices.Choice`, so ``SearchMode.BM25 == "bm25"`` and plain strings keep working.

    Usage::

        SearchMode.from_str("bm25")   # SearchMode.BM25
        SearchMode.from_str("magic")  # InvalidInputError: unknown search mode 'magic'; choose one of: ...
    """

    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"

    @classmethod
    def option_name(cls) -> str:
        return "search mode"

    @classmethod
    def error(cls, message: str) -> InvalidInputError:
        return InvalidInputError(message)
