"""What users say about answers: the append-only feedback store (``store``), its field limits (``limits``)
and its export as SQuAD 2.0 training data (``export``)."""
