"""Loading, cleaning and chunking documents, and the bulk ingestion command."""
