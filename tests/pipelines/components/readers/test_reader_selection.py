"""Choosing the reader: the configured model when it loads, the bundled compact reader — labelled —
when it does not, `compact` on request, and no silent swap when the fallback is turned off."""

from __future__ import annotations

from pathlib import Path

import pytest
from haystack import Document

from docqa.pipelines.components.readers import selection as reader_selection
from docqa.pipelines.components.readers.selection import (
    COMPACT_LABEL,
    CompactReaderMissingError,
    compact_reader_dir,
    select_reader,
)
from docqa.pipelines.model_loading import ModelUnavailableError

REPO = Path(__file__).resolve().parents[4]
NORMANS = (REPO / "data" / "samples" / "normans.txt").read_text(encoding="utf-8").split("\n\n")[1]


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache and no network: Hub models cannot be found."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "config.json"))


def test_the_compact_reader_ships_inside_the_repository_with_its_record_and_licences():
    directory = compact_reader_dir()
    assert directory == REPO / "data" / "compact-reader"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "TRAINING.md"):
        assert (directory / name).exists(), name
    size = sum(p.stat().st_size for p in directory.iterdir())
    assert size <= 50 * 1024 * 1024
    record = (directory / "TRAINING.md").read_text(encoding="utf-8")
    assert "Apache License 2.0" in record and "CC BY-SA 4.0" in record
    assert "Normans, Steam_engine and Packet_switching" in record  # held out of training


def test_missing_hub_model_falls_back_to_the_compact_reader_and_says_so(no_hub):
    reader, info = select_reader("deepset/bert-base-cased-squad2", "torch")
    assert info.is_fallback and info.is_compact and info.name == "compact"
    assert info.requested == "deepset/bert-base-cased-squad2"
    assert info.notice.startswith(f"{COMPACT_LABEL}; install deepset/bert-base-cased-squad2 for full quality")
    assert "huggingface-cli download deepset/bert-base-cased-squad2" in info.notice
    assert "could not be loaded" in info.notice
    assert "HF_HUB_OFFLINE" in info.fallback_reason
    assert Path(reader.model_dir) == compact_reader_dir()
    out = reader.run("In what country is Normandy located?", [Document(content=NORMANS)])
    assert "France" in [a.data for a in out["answers"]]


def test_missing_local_directory_falls_back_with_a_notice_naming_it(no_hub, tmp_path):
    missing = str(tmp_path / "my-reader")
    _, info = select_reader(missing, "torch")
    assert info.is_fallback and missing in info.notice and "huggingface-cli" not in info.notice


def test_compact_on_request_is_labelled_but_not_called_a_fallback(no_hub):
    _, info = select_reader("compact", "torch")
    assert info.is_compact and not info.is_fallback
    assert info.notice.startswith(f"{COMPACT_LABEL}; install deepset/bert-base-cased-squad2 for full quality")
    assert "could not be loaded" not in info.notice and info.fallback_reason is None
    _, by_path = select_reader(str(compact_reader_dir()), "torch")
    assert by_path.is_compact and not by_path.is_fallback


def test_no_fallback_raises_the_configured_models_error(no_hub):
    how_to = "huggingface-cli download deepset/bert-base-cased-squad2"
    with pytest.raises(ModelUnavailableError, match=how_to):
        select_reader("deepset/bert-base-cased-squad2", "torch", allow_fallback=False)


def test_a_configured_model_that_loads_is_used_without_a_notice(no_hub, tiny_qa_model_dir):
    loaded: list[tuple[str, str]] = []

    def loader(model: str, backend: str):
        loaded.append((model, backend))
        return reader_selection._load(model, backend)

    reader, info = select_reader(str(tiny_qa_model_dir), "torch", loader=loader)
    assert not info.is_fallback and not info.is_compact and info.notice is None
    assert loaded == [(str(tiny_qa_model_dir), "torch")]
    assert Path(reader.model_dir) == Path(tiny_qa_model_dir).resolve()


def test_without_the_bundled_reader_the_configured_models_error_is_raised(no_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(reader_selection, "compact_reader_dir", lambda: tmp_path / "nothing-here")
    with pytest.raises(ModelUnavailableError, match="deepset/bert-base-cased-squad2") as err:
        select_reader("deepset/bert-base-cased-squad2", "torch")
    assert not isinstance(err.value, CompactReaderMissingError)
    with pytest.raises(CompactReaderMissingError, match="data/compact-reader"):
        select_reader("compact", "torch")
