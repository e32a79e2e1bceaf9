"""Document stores: the data and its scoring, by engine.

``protocols`` (the store interface everything above uses), ``factory`` (``DOCQA_STORE`` → a store),
``errors`` (what every store raises, by kind), ``analysis`` (how text becomes BM25 terms, for every
engine), ``hybrid`` (dense + BM25 fusion, written once above the engines), and one subpackage per engine:
``local`` (the index directory: SQLite catalog + immutable segments) and ``milvus``.
"""
