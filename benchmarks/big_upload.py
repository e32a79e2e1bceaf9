"""One big text file uploaded to a real `docqa serve`: when is it first searchable, and does another upload
get a quick 423 meanwhile (issue 27, finding 4)?

    python benchmarks/big_upload.py [--kinds oneline normal] [--mb 50] [--max-seconds 180] [--json]
    python benchmarks/big_upload.py --python /work/base/.venv/bin/python --module app.server \\
        --cwd /work/base            # the same measurement against the code before the fix

For each kind of file — ``oneline`` (sentences separated by spaces, not one newline) and ``normal``
(paragraphs) — of ``--mb`` decimal megabytes (under the service's 50 MiB upload limit), seeded:

1. starts the service (``python -m <module>`` on a free loopback port, a fresh index, no reader) and
   waits until its embedder is loaded;
2. uploads the file (``POST /documents``) in a thread and polls ``POST /search`` (BM25) once a second for
   a word that only the file's first sentence holds: the first hit is "first searchable";
3. ``--second-at`` seconds after the big upload started, uploads a small file and times the answer (a
   423 with ``Retry-After`` is what we want; no answer within the time left is reported as a hang);
4. stops at ``--max-seconds`` (or when the big upload answers) and reports how far the file got:
   ``GET /documents`` lists it — complete, or partial with its passages so far — or does not list it at
   all (the old code commits a file only when all of it is embedded).

Reported per file: first_searchable_s, passages indexed when stopped (and of how many), the passages per
second since the first commit with the total time that rate implies, and the second upload's status,
Retry-After and seconds. Both runs happen on the same machine with the same files; run the old and the new
code one after the other (2 cores are shared: numbers move with the load, compare within one session).
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FIRST_WORD = "Firstpassagemarker"  # only in the file's first sentence
WORDS = [
    "harbour", "lighthouse", "keeper", "engine", "steam", "river", "valley", "winter", "summer", "orchard",
    "apple", "cider", "pressed", "october", "built", "engineer", "bridge", "railway", "station", "morning",
    "evening", "market", "town", "council", "library", "school", "teacher", "student", "museum", "painting",
    "history", "century", "village", "mountain", "forest",
]  # fmt: skip


def make_file(path: Path, kind: str, size: int, seed: int = 7) -> Path:
    """``size`` bytes of sentences: one line (``oneline``) or paragraphs of six sentences (``normal``)."""
    rng = random.Random(seed)
    parts, total, i = [f"{FIRST_WORD} opens this file about harbours. "], 0, 0
    total = len(parts[0])
    while total < size:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize()
        sentence += f" number {i}."
        sep = "\n\n" if kind == "normal" and i % 6 == 5 else " "
        parts.append(sentence + sep)
        total += len(sentence) + len(sep)
        i += 1
    path.write_bytes("".join(parts).encode()[:size])
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: argparse.Namespace, index: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DOCQA_API_KEY"}
    env.update(TOKENIZERS_PARALLELISM="false", HAYSTACK_TELEMETRY_ENABLED="False")
    handle = open(log, "w")  # noqa: SIM115 - the child writes to it for its whole life
    return subprocess.Popen(
        [args.python, "-m", args.module, "--host", "127.0.0.1", "--port", str(port), "--index", str(index),
         "--reader", str(index.parent / "no-reader"), "--log-level", "warning"],
        cwd=args.cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
    )


def wait_for_embedder(base: str, process: subprocess.Popen, log: Path, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            body = httpx.get(f"{base}/ready", timeout=5).json()
            if body.get("embedder") == "ready":
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"the embedder did not load in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def post_file(base: str, name: str, data: bytes, timeout: float, out: dict[str, Any]) -> None:
    """POST /documents; fills ``out`` with status, seconds, Retry-After, or the transport error."""
    started = time.monotonic()
    try:
        response = httpx.post(
            f"{base}/documents", files=[("files", (name, data, "text/plain"))], timeout=timeout
        )
        out.update(status=response.status_code, retry_after=response.headers.get("Retry-After"),
                   detail=str(response.json().get("detail", ""))[:160])
    except httpx.TimeoutException:
        out.update(status=None, detail=f"no answer within {timeout:.0f} s")
    except httpx.TransportError as err:
        out.update(status=None, detail=f"{type(err).__name__}")
    out["seconds"] = round(time.monotonic() - started, 1)


def big_document(base: str, name: str) -> dict[str, Any] | None:
    try:
        documents = httpx.get(f"{base}/documents", timeout=30).json()["documents"]
    except (httpx.TransportError, ValueError, KeyError):
        return None
    return next((d for d in documents if d["file_name"] == name), None)


def measure(args: argparse.Namespace, path: Path, work: Path) -> dict[str, Any]:
    index, port, log = work / f"index-{path.stem}", free_port(), work / f"server-{path.stem}.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(args, index, port, log)
    try:
        wait_for_embedder(base, server, log)
        data = path.read_bytes()
        big: dict[str, Any] = {}
        second: dict[str, Any] = {}
        started = time.monotonic()
        uploader = threading.Thread(target=post_file, args=(base, path.name, data, args.max_seconds, big))
        uploader.start()
        first_searchable = None
        second_thread = None
        timeline = []  # (seconds, passages indexed) whenever GET /documents shows progress
        while uploader.is_alive() and time.monotonic() - started < args.max_seconds:
            elapsed = time.monotonic() - started
            if second_thread is None and elapsed >= args.second_at:
                left = max(1.0, args.max_seconds - elapsed)
                second_thread = threading.Thread(
                    target=post_file, args=(base, "small.txt", b"A small file about tides.\n", left, second)
                )
                second_thread.start()
            if first_searchable is None:
                try:
                    query = {"query": FIRST_WORD, "mode": "bm25"}
                    hits = httpx.post(f"{base}/search", json=query, timeout=30)
                    if hits.status_code == 200 and hits.json()["passages"]:
                        first_searchable = round(time.monotonic() - started, 1)
                except httpx.TransportError:
                    pass
            if first_searchable is not None:
                document = big_document(base, path.name)
                if document and (not timeline or timeline[-1][1] != document["passages"]):
                    timeline.append((round(time.monotonic() - started, 1), document["passages"]))
            time.sleep(1.0)
        stopped = round(time.monotonic() - started, 1)
        document = big_document(base, path.name)
        if second_thread is not None:
            second_thread.join(timeout=max(1.0, args.max_seconds - stopped + 5))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    indexed = document["passages"] if document else 0
    total = indexed + (document.get("pending_passages", 0) if document else 0) if document else None
    rate = None
    if len(timeline) >= 2 and timeline[-1][0] > timeline[0][0]:
        rate = round((timeline[-1][1] - timeline[0][1]) / (timeline[-1][0] - timeline[0][0]), 2)
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "code": f"{args.python} -m {args.module}",
        "first_searchable_s": first_searchable,
        "stopped_at_s": stopped,
        "completed": bool(big.get("status") == 200),
        "big_upload": big or {"status": None, "detail": "still running when stopped"},
        "passages_indexed": indexed,
        "passages_total": total,
        "partial": bool(document and document.get("partial")),
        "passages_per_s": rate,
        "estimated_total_s": round(first_searchable + (total - timeline[0][1]) / rate)
        if rate and total and first_searchable is not None else None,
        "second_upload": second or {"status": None, "detail": "not sent"},
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--kinds", nargs="+", default=["oneline", "normal"], choices=["oneline", "normal"])
    parser.add_argument("--mb", type=float, default=50.0, help="file size in decimal MB (default 50)")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="stop each run after this long")
    parser.add_argument("--second-at", type=float, default=45.0, help="when the second upload is sent")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the code to measure")
    parser.add_argument("--module", default="docqa.app.server", help="its service module")
    parser.add_argument("--cwd", default=str(ROOT), help="its checkout")
    parser.add_argument("--workdir", default=None, help="keep files and indexes here (default: temporary)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docqa-bigupload-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = []
        for kind in args.kinds:
            path = make_file(work / f"{kind}{args.mb:g}mb.txt", kind, int(args.mb * 1_000_000))
            results.append(measure(args, path, work))
            if not args.json:
                print(json.dumps(results[-1], indent=2), flush=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
