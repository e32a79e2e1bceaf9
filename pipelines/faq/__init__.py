"""Curated question→answer pairs: reading FAQ files (``files``), their storage beside the index (``store``)
and the result types (``results``). The matching component is ``components/faq/matcher.py``."""
