"""The Milvus engine: the address and client (``client``), the search store over one Milvus collection
(``store``) and the write side with its crash-convergent manifest in the index directory (``index``)."""
