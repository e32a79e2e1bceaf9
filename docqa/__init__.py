"""DocQA's foundations, shared by every layer (``ingest``, ``pipelines``, ``app``).

Only things every layer needs live here: the error base class, the configuration (every ``DOCQA_*``
variable), the atomic-write helper and the location of the data DocQA ships (samples, compact reader).
Nothing here imports ``ingest``, ``pipelines`` or ``app``, so the flow files → ingest → store ← pipelines
← app never loops back.
"""
