"""PDFs as people make them (issue 23): tables, two columns, running headers/footers, hyphenation.

Generates its own PDFs with fpdf2 (content of its own, not the tests' — the rules were not tuned on it):

- ``laptops.pdf``: a ruled table (model, price, weight, battery) under a caption;
- ``pumps.pdf``: the same kind of table without any ruling lines;
- ``shipping.pdf``: a table that runs across a page break, its header repeated on the second page;
- ``towns.pdf``: three pages of two columns drawn line by line across the page (interleaved content
  stream), a full-width title above, a running header and "Page N" footer on every page;
- ``handbook.pdf``: four pages of prose with words hyphenated at line ends and a header/footer;

plus the real ``data/samples/packet_switching.pdf``. Questions have answers that are table cells or
column text. For the layout code and for ``--legacy`` (PDFium's plain page text, which cleans to what the
main branch's pypdf extraction gives on the sample; the tests check that) it prints:

- cell / column questions: recall@1 (the top hybrid-search passage holds the answer) and the compact
  reader's exact match (``DOCQA_READER_MODEL=compact``);
- passages holding a header/footer line; column sentences found whole in some passage (interleaving
  breaks them); hyphenated words read joined; whether every sentence of the sample stays the same;
- ingest speed in pages/s of the text step: the main branch's (pypdf ``extract_text`` + cleaning),
  ``--legacy``'s, and the layout code's, with the ratio to main (target: within 1.5x).

Run by hand (about a minute on 2 cores; embeds ~60 passages per mode):

    python benchmarks/pdf_layout.py [--json] [--speed-only] [--repeat 5] [--real PDF ...]

``--real`` reports on other real PDFs without questions (tables found, pages with running lines, pages
whose text changed against plain extraction, time); the Debian manuals under ``/usr/share/doc``
(libtasn1, shared-mime-info) are what the false-table and false-column rules were checked on.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ingest.layout_pdfs import running, table_pages  # noqa: E402  (fpdf2 builders, no test data)

HEADER, FOOTER = "Harbour Council Annual Review", "Harbour Council"
HANDBOOK_HEADER, HANDBOOK_FOOTER = "Northwind Traders - Internal Handbook", "Northwind Traders"

LAPTOPS = [["Model", "Price", "Weight", "Battery"]] + [
    [f"L{n}", f"EUR {price:,}", f"{weight} kg", f"{hours} hours"]
    for n, price, weight, hours in [
        (110, 749, 1.4, 9),
        (220, 899, 1.6, 11),
        (330, 1049, 1.3, 14),
        (440, 1199, 2.2, 7),
        (550, 1349, 1.8, 12),
        (660, 1499, 2.5, 6),
        (770, 1649, 1.2, 16),
        (880, 1999, 2.9, 5),
    ]
]
PUMPS = [["Pump", "Flow rate", "Head", "Power"]] + [
    [f"P-{n}", f"{flow} m3/h", f"{head} m", f"{kw} kW"]
    for n, flow, head, kw in [
        (12, 18, 24, 1.5),
        (25, 32, 31, 3.0),
        (40, 55, 28, 4.0),
        (63, 80, 42, 7.5),
        (80, 120, 36, 11.0),
        (100, 160, 50, 15.0),
    ]
]
COUNTRIES = [
    "Austria",
    "Belgium",
    "Croatia",
    "Denmark",
    "Estonia",
    "Finland",
    "Greece",
    "Hungary",
    "Ireland",
    "Italy",
    "Latvia",
    "Lithuania",
    "Malta",
    "Norway",
    "Poland",
    "Portugal",
    "Romania",
    "Slovakia",
    "Slovenia",
    "Spain",
    "Sweden",
    "Switzerland",
]
SHIPPING = [["Destination", "Standard", "Express", "Delivery time"]] + [
    [c, f"EUR {9 + i * 0.75:.2f}", f"EUR {19 + i * 1.25:.2f}", f"{2 + i % 5} working days"]
    for i, c in enumerate(COUNTRIES)
]
TOWNS = [  # (left column, right column) per page
    (
        "The lighthouse of Westport was built in 1820 by the town council after two ships were lost on the "
        "northern reef. Its lamp burned whale oil until 1871, when a paraffin burner arrived from Glasgow. "
        "The keeper lived in a cottage at the foot of the tower with his family.",
        "The railway station of Kelby opened in 1901 after a long debate among the merchants of the valley. "
        "It was designed by the architect Mary Alden, who chose yellow brick from the local kilns. Trains to "
        "the coast ran twice a day until the line closed in 1964.",
    ),
    (
        "The fish market of Westport sold herring, cod and mackerel every morning except Sunday. In 1888 a "
        "covered hall replaced the open stalls, paid for by a levy of one penny on each barrel landed. The "
        "hall still stands and now holds a museum of the fishing fleet.",
        "Kelby's woollen mill employed four hundred weavers at its peak in 1910. Water from the river Dunne "
        "drove its looms until steam engines were installed in 1923. The mill's clock tower, rebuilt after a "
        "fire, is the tallest building in the town.",
    ),
    (
        "Westport's harbour wall is nine hundred metres long and was finished in 1902. Storms in 1953 "
        "broke a gap in its eastern end, which the navy repaired within a month. Boats from six villages "
        "shelter behind it in winter.",
        "The Kelby library was founded by the weavers' union in 1897 with a gift of three thousand books. "
        "Its reading room is open every evening until nine o'clock. A new wing for children opened in 1975 "
        "and holds a large collection of picture books.",
    ),
]
HANDBOOK = [
    "Every boiler in the warehouse is serviced every six months by a certified engineer, and the "
    "maintenance record is kept in the office beside the loading dock.",
    "Deliveries arrive between seven and eleven in the morning; a driver who comes later must telephone "
    "the transport coordinator, who decides whether the load is accepted the same day.",
    "Employees receive twenty-eight days of paid holiday each year, and unused days may be carried over "
    "until the end of March of the following year with the manager's approval.",
    "The emergency assembly point is the car park behind the administration building, and the fire "
    "wardens check the registers there within ten minutes of an alarm.",
]

CELL_QUESTIONS = [
    ("What is the price of the L330?", "EUR 1,049"),
    ("How much does the L550 weigh?", "1.8 kg"),
    ("How long does the battery of the L770 last?", "16 hours"),
    ("What is the price of the L880?", "EUR 1,999"),
    ("What is the flow rate of pump P-40?", "55 m3/h"),
    ("What is the power of pump P-63?", "7.5 kW"),
    ("What head does pump P-100 reach?", "50 m"),
    ("What is the express rate to Norway?", "EUR 35.25"),
    ("What is the standard rate to Portugal?", "EUR 20.25"),
    ("What is the delivery time to Spain?", "6 working days"),
    ("What is the express rate to Austria?", "EUR 19.00"),
    ("What is the standard rate to Sweden?", "EUR 24.00"),
]
COLUMN_QUESTIONS = [
    ("When was the lighthouse of Westport built?", "1820"),
    ("Who designed the railway station of Kelby?", "Mary Alden"),
    ("When did a covered hall replace the open stalls of the fish market?", "1888"),
    ("How many weavers did Kelby's woollen mill employ at its peak?", "four hundred"),
    ("How long is Westport's harbour wall?", "nine hundred metres"),
    ("Who founded the Kelby library?", "the weavers' union"),
    ("How often is every boiler serviced?", "every six months"),
    ("How many days of paid holiday do employees receive?", "twenty-eight days"),
]


def _pdf():
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=10)
    return pdf


def make_towns(path: Path) -> list[str]:
    """Two columns drawn line by line across the page; returns every column sentence (to check)."""
    pdf = _pdf()
    sentences = []
    for number, (left, right) in enumerate(TOWNS, start=1):
        pdf.add_page()
        running(pdf, number, HEADER, FOOTER)
        pdf.set_font("Helvetica", style="B", size=14)
        pdf.text(20, 28, f"Two towns, part {number}")
        pdf.set_font("Helvetica", size=10)
        a, b = textwrap.wrap(left, 44), textwrap.wrap(right, 44)
        for row in range(max(len(a), len(b))):
            if row < len(a):
                pdf.text(20, 40 + 5 * row, a[row])
            if row < len(b):
                pdf.text(110, 40 + 5 * row, b[row])
        sentences += re.split(r"(?<=\.) ", left) + re.split(r"(?<=\.) ", right)
    pdf.output(str(path))
    return sentences


def make_handbook(path: Path) -> list[str]:
    """Prose hyphenated at line ends; returns the hyphenated words (joined) to look for."""
    pdf = _pdf()
    joined = []
    for number, paragraph in enumerate(HANDBOOK, start=1):
        pdf.add_page()
        running(pdf, number, HANDBOOK_HEADER, HANDBOOK_FOOTER)
        lines = textwrap.wrap(paragraph, 60)
        for i in range(len(lines) - 1):  # hyphenate the next line's first long word onto this line
            head, _, rest = lines[i + 1].partition(" ")
            if len(head) >= 8 and head.isalpha():
                cut = len(head) // 2
                lines[i] += f" {head[:cut]}-"
                lines[i + 1] = head[cut:] + (" " + rest if rest else "")
                joined.append(head)
        for row, line in enumerate(lines):
            pdf.text(20, 30 + 6 * row, line)
    pdf.output(str(path))
    return joined


def build(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    table_pages(folder / "laptops.pdf", [("Laptop range 2025", LAPTOPS)], intro="Prices include VAT.")
    table_pages(folder / "pumps.pdf", [("Pump specifications", PUMPS)], ruled=False)
    table_pages(folder / "shipping.pdf", [("Shipping rates", SHIPPING)], rows_per_page=14)
    return {
        "sentences": make_towns(folder / "towns.pdf"),
        "hyphenated": make_handbook(folder / "handbook.pdf"),
    }


def _norm(text: str) -> str:
    from docqa.pipelines.squad import normalize_answer

    return normalize_answer(text)


def use_legacy(legacy: bool) -> None:
    """Layout on or off for every PDF DocQA loads in this process."""
    import docqa.ingest.pdf as pdf_module
    from docqa.ingest.pdflayout import lay_out

    pdf_module.lay_out = (
        (lambda document, layout=True: lay_out(document, layout=False)) if legacy else lay_out
    )


def passages_of(path: Path) -> list[str]:
    from docqa.ingest.loaders import load_file
    from docqa.ingest.splitting import PageAwareSplitter

    loaded = load_file(path)
    return [d.content for d in PageAwareSplitter().run(pages=loaded.pages, meta={})["documents"]]


def quality(folder: Path, made: dict, index: Path) -> dict:
    from docqa.pipelines.api import DocQA

    qa = DocQA(index)
    report = qa.ingest([folder])
    assert report.ok, report.to_dict()
    out: dict = {"tables": {Path(r.path).name: r.tables for r in report.results}}
    for label, questions in (("cells", CELL_QUESTIONS), ("columns", COLUMN_QUESTIONS)):
        hits = exact = 0
        answers = []
        for question, gold in questions:
            top = qa.search(question, top_k=1)
            hits += bool(top) and _norm(gold) in _norm(top[0].content)
            result = qa.ask(question)
            answer = result.answers[0].text if result.answers else ""
            exact += _norm(answer) == _norm(gold)
            answers.append([question, gold, answer])
        out[label] = {
            "recall_at_1": round(hits / len(questions), 3),
            "exact_match": round(exact / len(questions), 3),
            "answers": answers,
        }
    every = [
        p
        for name in ("towns.pdf", "handbook.pdf", "laptops.pdf", "shipping.pdf")
        for p in passages_of(folder / name)
    ]
    furniture = [HEADER, HANDBOOK_HEADER, f"{FOOTER} - Page", f"{HANDBOOK_FOOTER} - Page"]
    out["passages_with_header_or_footer"] = sum(any(f in p for f in furniture) for p in every)
    towns = [" ".join(p.split()) for p in passages_of(folder / "towns.pdf")]
    out["column_sentences_whole"] = (
        f"{sum(any(s in p for p in towns) for s in made['sentences'])}/{len(made['sentences'])}"
    )
    handbook = " ".join(passages_of(folder / "handbook.pdf"))
    out["hyphenated_words_joined"] = (
        f"{sum(w in handbook for w in made['hyphenated'])}/{len(made['hyphenated'])}"
    )
    return out


def sample_unchanged() -> bool:
    from pypdf import PdfReader

    from docqa.ingest.cleaning import clean_text
    from docqa.ingest.loaders import load_file
    from docqa.ingest.splitting import sentence_spans

    path = ROOT / "data" / "samples" / "packet_switching.pdf"
    before = [clean_text(p.extract_text()) for p in PdfReader(io.BytesIO(path.read_bytes())).pages]

    def sentences(pages: list[str]) -> list[str]:
        return [page[s.start : s.end] for page in pages for s in sentence_spans(page)]

    return sentences(before) == sentences(load_file(path).pages)


def speed(files: list[Path], repeat: int) -> dict:
    """Pages/s of the text step: main's pypdf extraction + cleaning, --legacy's, the layout code's."""
    from pypdf import PdfReader

    from docqa.ingest.cleaning import clean_text
    from docqa.ingest.pdf import load_pdf

    blobs = [(f, f.read_bytes()) for f in files]
    pages = sum(len(PdfReader(io.BytesIO(b)).pages) for _, b in blobs)

    def main_branch() -> None:
        for _, data in blobs:
            [clean_text(p.extract_text() or "") for p in PdfReader(io.BytesIO(data)).pages]

    def ours(layout: bool) -> None:
        for path, data in blobs:
            load_pdf(path, data, layout=layout, ocr=False)

    out = {}
    for label, run in (
        ("main", main_branch),
        ("legacy", lambda: ours(False)),
        ("layout", lambda: ours(True)),
    ):
        run()  # warm: imports, caches
        best = min(_timed(run) for _ in range(repeat))
        out[label] = round(pages / best, 1)
    out["pages"] = pages
    out["layout_vs_main"] = round(out["main"] / out["layout"], 2)  # time ratio: >1 is slower than main
    return out


def real_pdfs(paths: list[Path]) -> list[dict]:
    """What layout does to real PDFs (no questions): tables, pages with running lines, pages whose text
    changed against plain extraction, and the time of each."""
    from docqa.ingest.pdf import load_pdf

    out = []
    for path in paths:
        data = path.read_bytes()
        started = time.perf_counter()
        plain = load_pdf(path, data, layout=False, ocr=False)
        plain_s = time.perf_counter() - started
        started = time.perf_counter()
        laid = load_pdf(path, data, ocr=False)
        layout_s = time.perf_counter() - started
        out.append(
            {
                "file": path.name,
                "pages": len(laid.pages),
                "tables": laid.table_count,
                "pages_with_running_lines": len(laid.running),
                "pages_changed": sum(a != b for a, b in zip(plain.pages, laid.pages, strict=True)),
                "plain_s": round(plain_s, 3),
                "layout_s": round(layout_s, 3),
            }
        )
    return out


def _timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="timing runs (the best is kept)")
    ap.add_argument("--speed-only", action="store_true", help="skip the embedding and reader part")
    ap.add_argument(
        "--real",
        type=Path,
        nargs="*",
        default=[],
        help="real PDFs to report on too (tables, running lines, pages changed vs plain, time), e.g. "
        "/usr/share/doc/libtasn1-doc/libtasn1.pdf",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("DOCQA_READER_MODEL", "compact")
    out: dict = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pdfs"
        made = build(folder)
        sample = ROOT / "data" / "samples" / "packet_switching.pdf"
        files = [*sorted(folder.glob("*.pdf")), sample, *args.real]
        out["speed"] = speed(files, args.repeat)
        use_legacy(False)
        out["sample_sentences_unchanged"] = sample_unchanged()
        out["real"] = real_pdfs([ROOT / "data" / "samples" / "packet_switching.pdf", *args.real])
        if not args.speed_only:
            for mode in ("legacy", "layout"):
                use_legacy(mode == "legacy")
                out[mode] = quality(folder, made, Path(tmp) / f"index-{mode}")
            use_legacy(False)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    s = out["speed"]
    print(
        f"ingest text step, pages/s over {s['pages']} pages: main (pypdf) {s['main']}, legacy {s['legacy']}, "
        f"layout {s['layout']} -> layout takes {s['layout_vs_main']}x main's time (target <= 1.5)"
    )
    print(f"sample sentences unchanged: {out['sample_sentences_unchanged']}")
    for real in out["real"]:
        print(
            f"real {real['file']}: {real['pages']} pages, {real['tables']} tables, running lines on "
            f"{real['pages_with_running_lines']} pages, {real['pages_changed']} pages changed vs plain, "
            f"{real['plain_s']} s plain / {real['layout_s']} s layout"
        )
    if not args.speed_only:
        print(f"{'':34}{'legacy':>12}{'layout':>12}")
        rows = [
            ("cell questions recall@1", lambda m: m["cells"]["recall_at_1"]),
            ("cell questions reader EM", lambda m: m["cells"]["exact_match"]),
            ("column questions recall@1", lambda m: m["columns"]["recall_at_1"]),
            ("column questions reader EM", lambda m: m["columns"]["exact_match"]),
            ("passages with header/footer", lambda m: m["passages_with_header_or_footer"]),
            ("column sentences whole", lambda m: m["column_sentences_whole"]),
            ("hyphenated words joined", lambda m: m["hyphenated_words_joined"]),
            ("tables found per file", lambda m: m["tables"]),
        ]
        for name, get in rows:
            print(f"{name:34}{get(out['legacy'])!s:>12}{get(out['layout'])!s:>12}")
        for question, gold, answer in out["layout"]["cells"]["answers"] + out["layout"]["columns"]["answers"]:
            print(f"  {question!r}: gold {gold!r}, layout answer {answer!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
