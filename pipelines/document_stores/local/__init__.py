"""The local engine: one index directory — a SQLite catalog (``catalog``), immutable segments of vectors and
BM25 postings (``segments``), the single writer (``writer``), the live index object (``index``), the
searcher that maps segments and follows commits (``searcher``) and the search store (``store``)."""
