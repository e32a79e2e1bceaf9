"""What the FAQ tests share: a small support FAQ and a deterministic stand-in for the query embedder."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from docqa.pipelines.faq.files import FaqEntry

SUPPORT_FAQ = [
    {"question": "How do I reset my password?", "answer": "Open Settings > Account > Reset password."},
    {"question": "Which file types can I upload?", "answer": "PDF, plain text (.txt) and Markdown (.md)."},
    {"question": "How can I contact customer support?", "answer": "Email support@example.com."},
]


def fake_embed_factory(calls: list[str]):
    """Deterministic unit vectors from the question text; records what was embedded."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        calls.extend(texts)
        rows = []
        for text in texts:
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows)

    return embed


class FakeEmbedder:
    """A query embedder with :func:`fake_embed_factory`'s vectors (same text, same vector)."""

    def __init__(self, model: str = "model-x") -> None:
        self.model = model
        self.calls: list[str] = []
        self._embed = fake_embed_factory(self.calls)

    def run(self, text: str) -> dict[str, Any]:
        return {"embedding": self._embed([text])[0].tolist()}


def entries(*pairs: tuple[str, str]) -> list[FaqEntry]:
    return [FaqEntry(q, a) for q, a in pairs]
