"""Who may do what in an index: scoped API keys (:mod:`.keys`) and the audit log (:mod:`.audit`)."""
