"""How big and how slow is ``POST /ask`` over hostile text? (issue 27, "answers grow with the square").

An attack probe found that one file holding a single 128 KiB "word" made ``/ask`` for the sample question
return 93 MB in 30 s: the passage was one 128 KiB piece of text, every occurrence of the answer in it was
its own source, and every source copied the whole passage. This script rebuilds such files (and other
members of the class), indexes each alone in a temporary index, asks the sample question through the
HTTP service (FastAPI ``TestClient``, the same serialisation as ``docqa serve``) and prints the response
size in bytes and the seconds the request took, one row per file.

Kinds of file (``--kinds``; each built at every ``--sizes`` KiB):

- ``word``: the probe's ``poison128k.txt`` unit ("Duchy,Normandy,founded,...,Rollo,Normans,") repeated
  without a space: one word;
- ``cjk``: Chinese text with no spaces and no sentence ends;
- ``url``: URLs of ~2 KB each, separated by single spaces, in one "sentence";
- ``base64``: one base64 blob;
- ``repeat``: ordinary sentences, the answer ("Rollo ... 911") repeated in every one;
- ``copies``: 50 identical files of the ``repeat`` text (size is per file).

Each file runs in its own subprocess with a time limit (``--timeout``, default 120 s), so a run of the
code before the fix reports what it reached instead of running away. It also runs on that older code,
whose modules are not yet under ``docqa.``: ``--root /work/base`` with that checkout's virtualenv.

Run by hand (not a test; a few minutes on 2 cores):

    python benchmarks/answer_size.py [--sizes 8,32,64,128] [--kinds word] [--top-k 5 --answers 3] [--json]
    /work/base/.venv/bin/python benchmarks/answer_size.py --root /work/base --sizes 8,32,64,128
"""

from __future__ import annotations

import argparse
import base64
import importlib
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
QUESTION = "When was the Duchy of Normandy founded?"
UNIT = b"Duchy,Normandy,founded,when,was,year,Rollo,Normans,"
KINDS = ("word", "cjk", "url", "base64", "repeat", "copies")


def build(kind: str, size: int, folder: Path) -> list[Path]:
    """Write the files of ``kind`` (``size`` bytes each) into ``folder``; return their paths."""
    rng = random.Random(size)
    if kind == "word":
        data = (UNIT * (size // len(UNIT) + 1))[:size]
    elif kind == "cjk":
        chars = "诺曼底公国成立于九一一年罗洛是诺曼人的首领塞纳河流域法国王国"
        text = "".join(rng.choice(chars) for _ in range(size // 3 + 1))
        data = text.encode()[: size - size % 3]
    elif kind == "url":
        words = []
        while sum(len(w) + 1 for w in words) < size:
            path = "/".join(f"Normandy{rng.randrange(10**6)}Rollo911" for _ in range(80))
            words.append(f"https://example.org/{path}?q=Duchy")
        data = " ".join(words).encode()[:size]
    elif kind == "base64":
        data = base64.b64encode(rng.randbytes(size * 3 // 4 + 3))[:size]
    elif kind in ("repeat", "copies"):
        sentence = b"The Duchy of Normandy was founded in 911 by Rollo, the leader of the Normans. "
        data = (sentence * (size // len(sentence) + 1))[:size]
    else:
        raise SystemExit(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    count = 50 if kind == "copies" else 1
    paths = []
    for number in range(count):
        path = folder / f"{kind}-{size // 1024}k-{number}.txt"
        path.write_bytes(data)
        paths.append(path)
    return paths


def measure_one(kind: str, size: int, reader: str, top_k: int, answers_wanted: int) -> dict:
    """Index the file(s) of ``kind``/``size`` alone, ask the sample question over HTTP, measure."""
    from fastapi.testclient import TestClient

    # The code before the repackaging (``--root /work/base``) has its modules at the checkout's top level;
    # only that measurement imports them so, by name, from that checkout.
    prefix = "docqa." if importlib.util.find_spec("docqa.pipelines") else ""
    create_app = importlib.import_module(f"{prefix}app.server.app").create_app
    DocQA = importlib.import_module(f"{prefix}pipelines.api").DocQA  # noqa: N806 - a class

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        paths = build(kind, size, folder)
        qa = DocQA(Path(tmp) / "index", reader_model=reader)
        started = time.perf_counter()
        report = qa.ingest([folder])
        ingest_s = time.perf_counter() - started
        client = TestClient(create_app(qa, api_key="", warm_up=False))
        client.post("/ask", json={"question": "warm up the reader", "top_k": 1})
        started = time.perf_counter()
        request = {"question": QUESTION, "top_k": top_k, "max_answers": answers_wanted}
        response = client.post("/ask", json=request)
        ask_s = time.perf_counter() - started
        body = response.content
        parsed = response.json() if response.status_code == 200 else {}
        answers = parsed.get("answers", [])
        return {
            "kind": kind,
            "kib": size // 1024,
            "files": len(paths),
            "status": response.status_code,
            "bytes": len(body),
            "ask_s": round(ask_s, 2),
            "ingest_s": round(ingest_s, 2),
            "passages": sum(r.passages for r in report.results),
            "longest_passage": max((len(p["content"]) for p in parsed.get("passages", [])), default=0),
            "answers": len(answers),
            "sources": sum(len(a["sources"]) for a in answers),
            "top_answer": answers[0]["text"][:40] if answers else None,
        }


def run_isolated(
    kind: str, size: int, reader: str, root: Path | None, timeout: float, request: list[str]
) -> dict:
    """One measurement in a child process, killed after ``timeout`` seconds."""
    command = [sys.executable, str(HERE), "--one", f"{kind}:{size}", "--reader", reader, *request]
    if root is not None:
        command += ["--root", str(root)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "kib": size // 1024, "status": f"killed after {timeout:.0f} s",
                "wall_s": round(time.perf_counter() - started, 1)}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"kind": kind, "kib": size // 1024, "status": f"failed: {tail[0][:200]}"}
    return {**json.loads(lines[-1]), "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,32,64,128", help="KiB per file, comma-separated")
    parser.add_argument("--kinds", default="word", help=f"comma-separated, from {', '.join(KINDS)}")
    parser.add_argument("--reader", default="compact", help="reader model (default: the bundled compact one)")
    parser.add_argument("--root", type=Path, default=None,
                        help="run the measurements from this checkout (e.g. /work/base for the old code)")
    parser.add_argument("--top-k", type=int, default=5, help="passages to read (the service allows 50)")
    parser.add_argument("--answers", type=int, default=3, help="answers to return (the service allows 10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per file before it is killed")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # KIND:BYTES, the child process's job
    args = parser.parse_args()
    if args.one:
        kind, size = args.one.split(":")
        if args.root is not None:
            sys.path.insert(0, str(args.root.resolve()))
        print(json.dumps(measure_one(kind, int(size), args.reader, args.top_k, args.answers)))
        return
    rows = []
    for kind in args.kinds.split(","):
        for kib in args.sizes.split(","):
            request = ["--top-k", str(args.top_k), "--answers", str(args.answers)]
            row = run_isolated(kind.strip(), int(kib) * 1024, args.reader, args.root, args.timeout, request)
            rows.append(row)
            if not args.json:
                print(f"{row['kind']:>7} {row['kib']:>5} KiB  status {row['status']}  "
                      f"/ask {row.get('bytes', '-'):>10} bytes in {row.get('ask_s', '-')} s  "
                      f"(passages {row.get('passages', '-')}, longest {row.get('longest_passage', '-')} "
                      f"chars, sources {row.get('sources', '-')}, ingest {row.get('ingest_s', '-')} s)",
                      flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
