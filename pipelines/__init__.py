"""Document store, retrievers, reader, query pipeline and the public Python API of DocQA."""
