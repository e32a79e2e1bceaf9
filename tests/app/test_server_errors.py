"""The service's one error mapping: every DocQA error kind gets its status code and its message as detail."""

from __future__ import annotations

import pytest

from docqa import errors
from docqa.app.server.app import create_app
from docqa.app.server.errors import KIND_STATUS, RequestRejected, status_for
from docqa.ingest.loaders import LoadError, UnsupportedFile
from docqa.pipelines.api import DocQA, DocumentNotFoundError
from docqa.pipelines.document_stores.errors import (
    EmbeddingModelMismatchError,
    IndexCorruptError,
    IndexLockedError,
)
from docqa.pipelines.faq.files import FaqFileError
from docqa.pipelines.model_loading import ModelUnavailableError
from tests.app.service_client import service_client

KINDS = [
    (errors.InvalidInputError, 400),
    (errors.ConfigError, 500),
    (errors.NotFoundError, 404),
    (errors.BusyError, 423),
    (errors.UnavailableError, 503),
    (errors.StorageError, 500),
]


def test_the_table_covers_every_kind_in_docqa_errors():
    kinds = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.DocQAError)}
    assert {kind for kind, _ in KIND_STATUS} == kinds - {errors.DocQAError}


@pytest.mark.parametrize(("kind", "status"), KINDS)
def test_each_kind_maps_to_its_status(kind, status):
    class NewError(kind):  # an error added later only has to pick its kind
        pass

    assert status_for(kind("x")) == status
    assert status_for(NewError("x")) == status


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (IndexLockedError("being written by another DocQA process"), 423),  # busy, not broken storage
        (EmbeddingModelMismatchError("built with another model"), 409),
        (IndexCorruptError("snapshot unreadable"), 500),
        (ModelUnavailableError("m", "reader", "not installed", "DOCQA_READER_MODEL"), 503),
        (DocumentNotFoundError("no such document"), 404),
        (FaqFileError("faq.csv", ["row 2: field 'answer' is empty"]), 400),
        (LoadError("empty file"), 400),
        (UnsupportedFile("unsupported file type '.pptx'"), 400),
        (RequestRejected(415, "Unsupported file type"), 415),
        (errors.DocQAError("no kind"), 500),
    ],
)
def test_concrete_errors(error, status):
    assert status_for(error) == status


@pytest.mark.parametrize(
    "error",
    [
        IndexLockedError("The index is being written by another DocQA process."),
        EmbeddingModelMismatchError("The index was built with another embedding model."),
        ModelUnavailableError("m", "embedding", "not installed", "DOCQA_EMBEDDING_MODEL"),
        FaqFileError("faq.csv", ["row 2: field 'answer' is empty"]),
        errors.ConfigError("DOCQA_FAQ_THRESHOLD must be a number"),
    ],
)
def test_an_endpoint_raising_answers_with_the_mapped_status_and_the_message(tmp_path, monkeypatch, error):
    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))

    def fail() -> list:
        raise error

    monkeypatch.setattr(qa, "documents", fail)
    response = service_client(create_app(qa, api_key="", warm_up=False)).get("/documents")
    assert response.status_code == status_for(error)
    assert response.json()["detail"] == str(error)
    if isinstance(error, FaqFileError):
        assert response.json()["errors"] == error.problems
