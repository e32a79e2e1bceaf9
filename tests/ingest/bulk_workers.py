"""Pool worker functions for tests/ingest/test_bulk.py: module-level, so spawned workers can import them."""

from __future__ import annotations

import os
import signal

from docqa.ingest.bulk import parse_in_worker
from docqa.ingest.preparing import ParseJob


def dies_on_crash_files(job: ParseJob):
    """Reads files like the real worker, but a file named ``crash*`` kills its worker (kill -9), as a
    parser fault or the OOM killer would."""
    if job.path.name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    return parse_in_worker(job)
