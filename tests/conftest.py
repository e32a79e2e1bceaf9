"""Shared fixtures: files that exercise every ingest failure, a real embedder, temporary indexes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["tests.model_fixtures", "tests.improve_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = REPO / "data" / "samples"

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests of a missing reader expect "no reader"; the compact fallback is tested where asked for.
os.environ["DOCQA_READER_FALLBACK"] = "0"
# The shipped reranker (data/reranker) is on by default in the product; here it is on only where a test
# asks for it (DOCQA_RERANK=1: tests/pipelines/test_shipped_reranker.py and the reranker tests), so
# that hundreds of questions about other things do not each pay its cross-encoder and its first-use
# runtime measurement in every fresh cache directory.
os.environ["DOCQA_RERANK"] = "0"


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    """A real PDF with a text layer, one string per page (core font: keep text Latin-1)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path, n_pages: int = 2) -> Path:
    """A PDF whose pages hold only drawings: what a scanner without OCR produces, text-wise."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    for _ in range(n_pages):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        pdf.rect(20, 20, 150, 200, style="F")
    pdf.output(str(path))
    return path


def make_encrypted_pdf(source: Path, path: Path, password: str = "secret") -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    """One file per failure the ingest report must explain, plus good files beside them."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    good_pdf = make_pdf(folder / "good.pdf", ["The lighthouse keeper lit the lamp at dusk every day.",
                                              "The ship arrived in the harbour on Tuesday morning."])
    files = {
        "good_pdf": good_pdf,
        "good_txt": folder / "good.txt",
        "corrupt_pdf": folder / "corrupt.pdf",
        "truncated_pdf": folder / "truncated.pdf",
        "encrypted_pdf": make_encrypted_pdf(good_pdf, folder / "encrypted.pdf"),
        "scanned_pdf": make_scanned_pdf(folder / "scanned.pdf"),
        "empty_txt": folder / "empty.txt",
        "binary_txt": folder / "binary.txt",
        "latin1_txt": folder / "latin1.txt",
        "unsupported": folder / "slides.pptx",
    }
    files["good_txt"].write_text("Marie Curie won the Nobel Prize in Physics in 1903.\n", encoding="utf-8")
    files["corrupt_pdf"].write_bytes(b"%PDF-1.7\nthis is not really a pdf at all\n%%EOF\n")
    files["truncated_pdf"].write_bytes(good_pdf.read_bytes()[:300])
    files["empty_txt"].write_bytes(b"")
    files["binary_txt"].write_bytes(bytes(range(256)) * 8)
    files["latin1_txt"].write_bytes("Le café de la gare ouvre à sept heures.".encode("cp1252"))
    files["unsupported"].write_bytes(b"PK\x03\x04 not really a pptx")
    return files


def hash_embed(documents, dim: int = 384) -> np.ndarray:
    """Deterministic unit vectors from text hashes: for store mechanics tests that need no semantics."""
    rows = []
    for doc in documents:
        seed = int(hashlib.sha256((doc.content or "").encode()).hexdigest()[:8], 16)
        vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
        rows.append(vector / np.linalg.norm(vector))
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} (development data) is not present")
    return SHARED


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Path:
    """The bundled samples ingested once per test session with the real packaged embedder."""
    from docqa.pipelines.api import DocQA

    directory = tmp_path_factory.mktemp("sample-index") / "index"
    report = DocQA(directory).ingest([SAMPLES])
    assert report.ok, report.to_dict()
    return directory
