"""`docqa ingest PATHS --watch`: after the first ingest, keep the index in step with PATHS until Ctrl-C.

The watching itself is :meth:`docqa.pipelines.api.DocQA.watch` (the same as `docqa serve --watch`); this
module only prints one line per change (a JSON object per line with ``--json``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from rich.markup import escape

from docqa.app.cli.ingest_report import result_line
from docqa.app.cli.output import console
from docqa.pipelines.api import FileResult


def watch_paths(qa, paths: list[Path], *, ocr: bool, checkpoint_every: int, as_json: bool) -> None:
    """Block until Ctrl-C, applying every change under ``paths``; an interrupted ingest keeps its commits."""
    def announce(result: FileResult) -> None:
        if as_json:  # one JSON object per line, so a log shipper can read the stream
            print(
                json.dumps({"time": datetime.now().isoformat(timespec="seconds"), **vars(result)}), flush=True
            )
        else:
            console.print(f"[dim]{datetime.now():%H:%M:%S}[/] {result_line(result)}", highlight=False)

    watcher = qa.watch(paths, on_change=announce, ocr=ocr, checkpoint_every=checkpoint_every)
    if not as_json:
        shown = ", ".join(escape(str(p)) for p in paths)
        console.print(f"Watching {shown} for changes — Ctrl-C stops.", highlight=False)
    try:
        watcher.run()
    except KeyboardInterrupt:
        watcher.stop()
    if not as_json:
        console.print("Stopped watching.", highlight=False)
