"""Today's (format-1) snapshot store, frozen for the old-vs-new benchmark and migration tests."""
