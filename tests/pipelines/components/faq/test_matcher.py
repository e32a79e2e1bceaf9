"""The FAQ matcher component: threshold, following a replaced faq.json, serialisation, no DocQA inside."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from docqa.errors import ConfigError, InvalidInputError
from docqa.pipelines.components.faq.matcher import DEFAULT_FAQ_THRESHOLD, FaqMatcher, resolve_threshold
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.faq.store import FaqStore
from tests.pipelines.components.faq.helpers import FakeEmbedder, entries, fake_embed_factory

REPO = Path(__file__).resolve().parents[4]
FAQ_MODULES = [
    "docqa.pipelines.faq.files",
    "docqa.pipelines.components.faq.matcher",
    "docqa.pipelines.faq.results",
    "docqa.pipelines.faq.store",
]


def test_matcher_threshold_and_following_a_replaced_file(tmp_path):
    store = FaqStore(LocalIndex(tmp_path / "index"))
    embed = fake_embed_factory([])
    store.replace(entries(("Alpha?", "first"), ("Beta?", "second")), embed, "model-x")
    matcher = FaqMatcher(store, FakeEmbedder("model-x"))
    hit = matcher.run(question="Alpha?", threshold=0.9)["match"]
    assert hit.matched and hit.entry.answer == "first" and hit.similarity == pytest.approx(1.0, abs=1e-5)
    miss = matcher.run(question="Something else entirely", threshold=0.9)["match"]
    assert not miss.matched and miss.threshold == 0.9
    # Another writer replaces the file: the matcher sees the new entries on the next question.
    store.replace(entries(("Gamma?", "third")), embed, "model-x")
    assert matcher.run(question="Gamma?", threshold=0.9)["match"].entry.answer == "third"


def test_matcher_takes_a_precomputed_query_embedding_and_embeds_nothing_without_an_faq(tmp_path):
    store = FaqStore(LocalIndex(tmp_path / "index"))
    embedder = FakeEmbedder("model-x")
    matcher = FaqMatcher(store, embedder)
    assert matcher.run(question="Anything?")["match"] is None
    assert embedder.calls == []  # no FAQ: the question is not embedded
    store.replace(entries(("Alpha?", "first")), fake_embed_factory([]), "model-x")
    vector = fake_embed_factory([])(["Alpha?"])[0].tolist()
    without_embedder = FaqMatcher(store, embedding_model="model-x", threshold=0.5)
    match = without_embedder.run(query_embedding=vector)["match"]
    assert match.matched and match.threshold == 0.5
    with pytest.raises(InvalidInputError, match="needs a non-empty question or its query_embedding"):
        matcher.run(question="  ")


def test_threshold_from_argument_environment_or_default(monkeypatch):
    monkeypatch.delenv("DOCQA_FAQ_THRESHOLD", raising=False)
    assert resolve_threshold() == DEFAULT_FAQ_THRESHOLD
    monkeypatch.setenv("DOCQA_FAQ_THRESHOLD", "0.9")
    assert resolve_threshold() == 0.9
    assert resolve_threshold(0.5) == 0.5
    monkeypatch.setenv("DOCQA_FAQ_THRESHOLD", "high")
    with pytest.raises(ConfigError, match="DOCQA_FAQ_THRESHOLD='high' is not a number"):
        resolve_threshold()
    monkeypatch.setenv("DOCQA_FAQ_THRESHOLD", "1.5")
    with pytest.raises(ConfigError, match="DOCQA_FAQ_THRESHOLD='1.5' must be between"):
        resolve_threshold()
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        resolve_threshold(1.5)


def test_matcher_round_trips_through_to_dict_and_still_matches(tmp_path):
    from docqa.pipelines.components.embedders.sentence_embedders import QueryEmbedder

    store = FaqStore(LocalIndex(tmp_path / "index"))
    matcher = FaqMatcher(store, QueryEmbedder(), threshold=0.7)
    data = matcher.to_dict()
    assert data["type"] == "docqa.pipelines.components.faq.matcher.FaqMatcher"
    again = FaqMatcher.from_dict(data)
    assert again.to_dict() == data
    assert isinstance(again.embedder, QueryEmbedder) and again.embedder.model == matcher.embedder.model
    assert again.store.path == store.path and again.threshold == 0.7
    store.replace(entries(("How do I reset my password?", "Open Settings.")), matcher.embed_questions,
                  matcher.embedding_model)
    again.warm_up()
    match = again.run(question="I forgot my password, how can I get a new one?")["match"]
    assert match.matched and match.entry.answer == "Open Settings."


@pytest.mark.slow  # a fresh interpreter imports the FAQ modules
def test_no_faq_module_imports_the_docqa_api():
    """The FAQ is a store and a component: handed what they need, they never reach into DocQA."""
    for module in FAQ_MODULES:
        path = Path(importlib.util.find_spec(module).origin)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(name and name.startswith("docqa.pipelines.api") for name in imported), module
        assert "DocQA" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}, module
    code = f"import sys; import {', '.join(FAQ_MODULES)}; print('docqa.pipelines.api' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "False"
