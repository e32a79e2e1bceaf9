"""How a question is matched against the passages: the one list of search modes every front end offers."""

from __future__ import annotations

from enum import Enum

from docqa.errors import InvalidInputError


class SearchMode(str, Enum):
    """Dense (embeddings), BM25 (keywords) or both fused ("hybrid", the default and the most accurate).

    ``.value`` is the name users type (``--mode``, the HTTP ``mode`` field, the page's selector). A ``str``
    subclass, so ``SearchMode.BM25 == "bm25"`` and callers that pass plain strings keep working.

    Usage::

        SearchMode.from_str("bm25")   # SearchMode.BM25
        SearchMode.from_str("magic")  # InvalidInputError: unknown search mode 'magic' (choose from ...)
    """

    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def choices(cls) -> list[str]:
        """The names users may type, default first."""
        return [member.value for member in cls]

    @classmethod
    def from_str(cls, name: str | SearchMode) -> SearchMode:
        """The mode called ``name`` (exact spelling, as documented).

        :raises InvalidInputError: for an unknown name; the message lists the valid ones.
        """
        if isinstance(name, cls):
            return name
        for member in cls:
            if member.value == name:
                return member
        raise InvalidInputError(f"unknown search mode {name!r} (choose from {', '.join(cls.choices())})")
