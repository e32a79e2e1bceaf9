"""The Milvus collection DocQA creates: its fields, the BM25 function and the index parameters, and how a
torn Milvus Lite index is recognised (see ``MilvusDocumentStore._load``). The field list and why each field
exists are in :mod:`docqa.pipelines.document_stores.milvus.store`'s docstring."""

from __future__ import annotations

from typing import Any

# numpy's messages for a truncated .npy sidecar: header cut, data cut, or nothing at all.
TORN_INDEX_MARKERS = (
    "cannot reshape array",
    "no data left in file",
    "failed to interpret file",
    "not a .npy",
)


def passage_schema(client: Any, dim: int, max_text: int, analyzer: dict[str, Any]) -> Any:
    """One row per passage; ``sparse`` is filled by Milvus's BM25 function from ``bm25_text``."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, description="DocQA passages")
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("source_key", DataType.VARCHAR, max_length=4096)
    schema.add_field("content", DataType.VARCHAR, max_length=max_text)
    schema.add_field(
        "bm25_text", DataType.VARCHAR, max_length=max_text, enable_analyzer=True, analyzer_params=analyzer
    )
    schema.add_field("meta", DataType.JSON)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["bm25_text"],
            output_field_names=["sparse"],
        )
    )
    return schema


def vector_index_params(client: Any, *, lite: bool) -> Any:
    """The embedding field's index: FLAT is exact (as the local store); on a server AUTOINDEX picks
    HNSW-like indexes at scale."""
    params = client.prepare_index_params()
    params.add_index(field_name="embedding", index_type="FLAT" if lite else "AUTOINDEX", metric_type="COSINE")
    return params


def index_params(client: Any, *, lite: bool) -> Any:
    """Both indexes of a new collection: the embedding's and the BM25 sparse field's."""
    params = vector_index_params(client, lite=lite)
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return params


def is_torn_index(reason: str) -> bool:
    """Whether a load error is numpy failing on a truncated index sidecar."""
    low = reason.lower()
    return any(marker in low for marker in TORN_INDEX_MARKERS)
