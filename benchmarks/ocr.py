"""Scanned PDFs: OCR speed, and whether an OCRed copy answers and retrieves like the text original.

The scanned copy is made the way the issue asks: each page of ``data/samples/packet_switching.pdf``
rendered at 200 dpi into an image-only PDF (no text layer). Then, in one run:

- OCR speed: the scanned copy is loaded (OCR of every page, one single-threaded Tesseract per core) and
  timed; pages/s and the mean confidence from the report notes are printed.
- Retrieval: the original and the OCRed copy are each ingested into a temporary index; recall@5 (hybrid
  search; hit = a gold answer, normalised as SQuAD does, occurs in one of the top 5 passages) over the
  answerable questions of the ``Packet_switching`` article in ``../shared/data/squad2-dev-public.json``.
  The target is a difference within 0.05.
- Answers: the search page's example questions for the sample are asked of both indexes with the
  compact reader (``DOCQA_READER_MODEL=compact``), printing answer and page side by side.

Run by hand (slow on 2 cores, not a test):

    python benchmarks/ocr.py [--json] [--dpi 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
ARTICLE = "Packet_switching"


def make_scanned_copy(source: Path, target: Path, dpi: int) -> Path:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(source))
    images = [document[i].render(scale=dpi / 72).to_pil().convert("RGB") for i in range(len(document))]
    document.close()
    images[0].save(target, "PDF", resolution=float(dpi), save_all=True, append_images=images[1:])
    return target


def article_questions(path: Path) -> list[tuple[str, list[str]]]:
    from docqa.pipelines.squad import read_squad

    squad = read_squad(path)
    return [
        (ex.question, list(ex.gold_texts))
        for paragraph in squad.paragraphs
        if paragraph.title.strip() == ARTICLE
        for ex in paragraph.examples
        if not ex.marked_impossible and ex.gold_texts
    ]


def recall_at_5(qa, questions: list[tuple[str, list[str]]]) -> float:
    from docqa.pipelines.squad import normalize_answer

    hits = 0
    for question, answers in questions:
        passages = [normalize_answer(p.content) for p in qa.search(question, top_k=5)]
        golds = [normalize_answer(a) for a in answers]
        hits += any(gold and gold in passage for gold in golds for passage in passages)
    return hits / len(questions)


def save_preview(qa, question: str, pdf: Path, folder: Path) -> dict:
    """The search page's preview of the best answer on the scanned copy, saved as PNGs (page and detail)."""
    from docqa.app.ui.preview import render_marked_page
    from docqa.ingest.layout import OCR_BOXES

    result = qa.ask(question)
    answer = result.answers[0]
    src = answer.source
    passage = next(p for p in result.passages if p.id == src.document_id)
    piece = next((start, end) for page, start, end in passage.page_offsets if page == src.page)
    marked = render_marked_page(
        pdf,
        src.page,
        answer=answer.text,
        passage=passage.content,
        ocr_boxes=passage.meta.get(OCR_BOXES),
        answer_span=(src.page_start, src.page_end),
        passage_span=piece,
    )
    folder.mkdir(parents=True, exist_ok=True)
    page_png = folder / f"ocr-answer-page{src.page}.png"
    page_png.write_bytes(marked.png)
    saved = {
        "question": question,
        "answer": answer.text,
        "page": src.page,
        "mark": marked.mark,
        "page_png": str(page_png),
    }
    if marked.detail_png:
        detail_png = folder / f"ocr-answer-page{src.page}-detail.png"
        detail_png.write_bytes(marked.detail_png)
        saved["detail_png"] = str(detail_png)
    print(
        f"preview: {answer.text!r} marked as {marked.mark} on page {src.page} -> {page_png}", file=sys.stderr
    )
    return saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dpi", type=int, default=200, help="resolution of the simulated scan")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--preview-dir",
        type=Path,
        default=ROOT / "test-artifacts",
        help="where the page preview of the first answer on the scanned copy is saved (PNG)",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("DOCQA_READER_MODEL", "compact")

    from docqa.ingest.loaders import load_file
    from docqa.pipelines.api import DocQA
    from docqa.resources import data_path

    original = Path(data_path("samples", "packet_switching.pdf"))
    questions = article_questions(DATA / "squad2-dev-public.json")
    examples = json.loads(Path(data_path("example_questions.json")).read_text())["packet_switching.pdf"]
    out: dict = {"dpi": args.dpi, "questions": len(questions), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        scanned_dir = Path(tmp) / "scanned"
        scanned_dir.mkdir()
        scanned = make_scanned_copy(original, scanned_dir / "packet_switching.pdf", args.dpi)

        started = time.perf_counter()
        loaded = load_file(scanned)
        seconds = time.perf_counter() - started
        out["ocr_speed"] = {
            "pages": len(loaded.pages),
            "seconds": round(seconds, 2),
            "pages_per_s": round(len(loaded.pages) / seconds, 3),
            "notes": loaded.notes,
        }
        print(
            f"OCR: {len(loaded.pages)} pages in {seconds:.1f} s = {len(loaded.pages) / seconds:.2f} pages/s; "
            f"{'; '.join(loaded.notes)}",
            file=sys.stderr,
        )

        results = {}
        for label, pdf in (("text", original), ("ocr", scanned)):
            qa = DocQA(Path(tmp) / f"index-{label}")
            report = qa.ingest([pdf])
            assert report.ok, report.to_dict()
            recall = recall_at_5(qa, questions)
            answers = []
            for question in examples:
                result = qa.ask(question)
                best = result.answers[0] if result.answers else None
                page = best.sources[0].page if best and best.sources else None
                answers.append(
                    {
                        "question": question,
                        "answer": best.text if best else None,
                        "page": page,
                        "no_answer": result.no_answer,
                    }
                )
            results[label] = {"recall_at_5": round(recall, 4), "answers": answers}
            if label == "ocr":
                out["preview"] = save_preview(qa, examples[0], pdf, args.preview_dir)
            print(f"{label:>4}: recall@5 {recall:.3f}", file=sys.stderr)
            for a in answers:
                print(f"      {a['question']!r} -> {a['answer']!r} (page {a['page']})", file=sys.stderr)
        out.update(results)
        out["recall_difference"] = round(results["text"]["recall_at_5"] - results["ocr"]["recall_at_5"], 4)
        out["same_pages"] = [a["page"] for a in results["text"]["answers"]] == [
            a["page"] for a in results["ocr"]["answers"]
        ]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"recall@5 text {out['text']['recall_at_5']:.3f}, OCR {out['ocr']['recall_at_5']:.3f} "
            f"(difference {out['recall_difference']:+.3f}; target within 0.05); "
            f"answer pages identical: {out['same_pages']}; OCR {out['ocr_speed']['pages_per_s']:.2f} pages/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
