"""Bulk ingestion on every core (issue 24): pages/s of ``docqa ingest`` at ``--jobs 1`` and ``--jobs N``
against stock Haystack, for text PDFs and for scanned PDFs, in one run on the same files.

    python benchmarks/bulk_ingest.py [--jobs 2] [--text-copies 12] [--scan-files 4] [--scan-pages 2]
                                     [--no-haystack] [--json]

Files: ``--text-copies`` copies of ``data/samples/packet_switching.pdf`` (6 text pages each), and
``--scan-files`` image-only PDFs of its first ``--scan-pages`` pages rendered at 200 dpi (what a scanner
makes; no text layer), as ``benchmarks/ocr.py`` and ``tests/ingest/scans.py`` build them.

- **DocQA**: ``DocQA(index).ingest(folder, jobs=J)`` into a new index per run, J = 1 and ``--jobs``; the
  embedder is loaded and its runtime chosen by a warm-up ingest first (model loading is not throughput),
  while starting the pool's workers is counted (it is part of every ``--jobs`` run).
- **Stock Haystack**: ``PyPDFToDocument`` → ``DocumentSplitter`` (180 words, 40 overlap: our passage
  size) → ``SentenceTransformersDocumentEmbedder`` (the same packaged MiniLM, warmed up) →
  ``DocumentWriter`` into an ``InMemoryDocumentStore``. PyPDF finds no text on a scan, so for scans each
  page is rendered (pypdfium2, 200 dpi, as ours) and read by the same single-threaded Tesseract call as
  ours (``docqa.ingest.ocr.ocr_image``), one page after another, then split, embedded and written.

Printed per corpus: pages, passages, seconds, pages/s, and the ratios ``--jobs N`` / ``--jobs 1`` and
DocQA / Haystack; ``uptime``'s load average before and after each figure (a shared machine: other people's
work moves every wall-clock number). Errors: failed files in our reports. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SOURCE = REPO / "data" / "samples" / "packet_switching.pdf"
DPI = 200


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def log(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def make_corpora(root: Path, text_copies: int, scan_files: int, scan_pages: int) -> tuple[Path, Path]:
    import pypdfium2 as pdfium

    text, scans = root / "text", root / "scans"
    text.mkdir()
    scans.mkdir()
    for i in range(text_copies):
        shutil.copyfile(SOURCE, text / f"packet_switching_{i:02d}.pdf")
    document = pdfium.PdfDocument(str(SOURCE))
    images = [document[n].render(scale=DPI / 72).to_pil().convert("RGB") for n in range(scan_pages)]
    document.close()
    for i in range(scan_files):
        target = scans / f"scan_{i:02d}.pdf"
        images[0].save(target, "PDF", resolution=float(DPI), save_all=True, append_images=images[1:])
    return text, scans


def docqa_run(folder: Path, index: Path, jobs: int) -> dict:
    from docqa.pipelines.api import DocQA

    before = load()
    started = time.perf_counter()
    report = DocQA(index).ingest([folder], jobs=jobs)
    seconds = time.perf_counter() - started
    pages = sum(r.pages for r in report.results)
    return {
        "jobs": jobs,
        "pages": pages,
        "passages": report.passages_embedded,
        "seconds": round(seconds, 2),
        "pages_per_s": round(pages / seconds, 3),
        "errors": [f"{r.path}: {r.reason}" for r in report.failed],
        "load_before": before,
        "load_after": load(),
    }


class StockHaystack:
    """Haystack's own indexing pipeline (and, for scans, Tesseract page by page in front of it)."""

    def _pipeline(self, with_converter: bool):
        """A new pipeline (a component belongs to one), its embedder warmed up before any timing."""
        from haystack import Pipeline
        from haystack.components.converters import PyPDFToDocument
        from haystack.components.preprocessors import DocumentSplitter
        from haystack.components.writers import DocumentWriter
        from haystack.document_stores.in_memory import InMemoryDocumentStore
        from haystack_integrations.components.embedders.sentence_transformers import (
            SentenceTransformersDocumentEmbedder,
        )

        from docqa.pipelines.model_loading import packaged_embedding_model_dir

        embedder = SentenceTransformersDocumentEmbedder(
            model=str(packaged_embedding_model_dir()), progress_bar=False
        )
        embedder.warm_up()
        self.store = InMemoryDocumentStore()
        pipeline = Pipeline()
        if with_converter:
            pipeline.add_component("converter", PyPDFToDocument())
        splitter = DocumentSplitter(split_by="word", split_length=180, split_overlap=40)
        pipeline.add_component("splitter", splitter)
        pipeline.add_component("embedder", embedder)
        pipeline.add_component("writer", DocumentWriter(document_store=self.store))
        if with_converter:
            pipeline.connect("converter.documents", "splitter.documents")
        pipeline.connect("splitter.documents", "embedder.documents")
        pipeline.connect("embedder.documents", "writer.documents")
        return pipeline

    def text(self, folder: Path) -> dict:
        from pypdf import PdfReader

        files = sorted(folder.glob("*.pdf"))
        pages = sum(len(PdfReader(f).pages) for f in files)
        pipeline = self._pipeline(True)
        before = load()
        started = time.perf_counter()
        pipeline.run({"converter": {"sources": files}})
        return self._figures(pages, time.perf_counter() - started, before)

    def scans(self, folder: Path) -> dict:
        import pypdfium2 as pdfium
        from haystack import Document

        from docqa.ingest.ocr import ocr_image

        pipeline = self._pipeline(False)
        before = load()
        started = time.perf_counter()
        documents, pages = [], 0
        for path in sorted(folder.glob("*.pdf")):
            pdf = pdfium.PdfDocument(str(path))
            texts = []
            for n in range(len(pdf)):
                image = pdf[n].render(scale=DPI / 72).to_pil()
                texts.append(ocr_image(image, dpi=DPI).raw_text)
            pages += len(pdf)
            pdf.close()
            documents.append(Document(content="\f".join(texts), meta={"file_path": str(path)}))
        pipeline.run({"splitter": {"documents": documents}})
        return self._figures(pages, time.perf_counter() - started, before)

    def _figures(self, pages: int, seconds: float, before: str) -> dict:
        return {
            "pages": pages,
            "passages": self.store.count_documents(),
            "seconds": round(seconds, 2),
            "pages_per_s": round(pages / seconds, 3),
            "load_before": before,
            "load_after": load(),
        }


def ratio(a: dict | None, b: dict | None) -> float | None:
    if not a or not b:
        return None
    return round(a["pages_per_s"] / b["pages_per_s"], 2)


def measure(jobs: int = 2, text_copies: int = 12, scan_files: int = 4, scan_pages: int = 2,
            haystack: bool = True, quiet: bool = False) -> dict:
    """Every figure of one run as the dict ``--json`` prints: per corpus (``text``, ``scanned``) the
    ``jobs1`` / ``jobs{jobs}`` / ``haystack`` figures, ``ratios`` and ``errors`` (failed files), plus
    ``passages_equal`` (per corpus: ``--jobs 1`` and ``--jobs N`` indexed as many passages; a pool that lost
    or duplicated one would differ). Callable so that ``benchmarks/throughput.py --all`` reports these
    figures from this code instead of a copy of it."""
    results: dict = {"cpu": {"cores": len(os.sched_getaffinity(0))}, "jobs": jobs}
    with tempfile.TemporaryDirectory(prefix="docqa-bulk-") as tmp:
        root = Path(tmp)
        text, scans = make_corpora(root, text_copies, scan_files, scan_pages)
        warm = root / "warm"
        warm.mkdir()
        shutil.copyfile(REPO / "data" / "samples" / "normans.txt", warm / "normans.txt")
        log(f"warm-up ingest (load {load()})", quiet)
        docqa_run(warm, root / "index-warm", jobs=1)
        stock = StockHaystack() if haystack else None
        for name, folder in (("text", text), ("scanned", scans)):
            figures: dict = {}
            for pool in (1, jobs):
                figures[f"jobs{pool}"] = docqa_run(folder, root / f"index-{name}-{pool}", pool)
                log(f"{name} --jobs {pool}: {figures[f'jobs{pool}']}", quiet)
            if stock is not None:
                figures["haystack"] = stock.text(folder) if name == "text" else stock.scans(folder)
                log(f"{name} haystack: {figures['haystack']}", quiet)
            results[name] = figures
    text_f, scan_f = results["text"], results["scanned"]
    jn = f"jobs{jobs}"
    results["ratios"] = {
        f"text_jobs{jobs}_vs_jobs1": ratio(text_f[jn], text_f["jobs1"]),
        f"ocr_jobs{jobs}_speedup": ratio(scan_f[jn], scan_f["jobs1"]),
        "ingest_text_ratio_vs_haystack": ratio(text_f[jn], text_f.get("haystack")),
        "ingest_text_jobs1_vs_haystack": ratio(text_f["jobs1"], text_f.get("haystack")),
        "ingest_scanned_ratio_vs_haystack": ratio(scan_f[jn], scan_f.get("haystack")),
    }
    results["errors"] = sum(len(f[k]["errors"]) for f in (text_f, scan_f) for k in ("jobs1", jn))
    results["passages_equal"] = {name: results[name]["jobs1"]["passages"] == results[name][jn]["passages"]
                                 for name in ("text", "scanned")}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="the pool size compared with --jobs 1")
    parser.add_argument("--text-copies", type=int, default=12)
    parser.add_argument("--scan-files", type=int, default=4)
    parser.add_argument("--scan-pages", type=int, default=2)
    parser.add_argument("--no-haystack", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args()
    results = measure(args.jobs, args.text_copies, args.scan_files, args.scan_pages,
                      haystack=not args.no_haystack, quiet=args.json)
    if args.json:
        print(json.dumps(results))
        return 0
    header = f"{'corpus':<9} {'run':<10} {'pages':>6} {'passages':>9} {'s':>8} {'pages/s':>8}"
    print(f"{header}  load before/after")
    for name in ("text", "scanned"):
        for run, f in results[name].items():
            print(
                f"{name:<9} {run:<10} {f['pages']:>6} {f['passages']:>9} {f['seconds']:>8} "
                f"{f['pages_per_s']:>8}  {f['load_before']} / {f['load_after']}"
            )
    for key, value in results["ratios"].items():
        print(f"{key}: {value}")
    print(f"errors: {results['errors']}; same passages at --jobs 1 and --jobs {args.jobs}: "
          f"{results['passages_equal']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
