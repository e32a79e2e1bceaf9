"""Reader and embedder throughput on a CUDA GPU, against Haystack's components on the same GPU in the same
run (issue 24's GPU targets: bert-base reader <= 25 ms per question at top-10 passages, >= 200 questions/s
at 32 clients, embedding >= 5,000 passages/s).

    python benchmarks/gpu_throughput.py [--questions 64] [--clients 32] [--passages 5000] [--json]

Imported by ``benchmarks/throughput.py`` (its ``gpu`` entry); ``None`` / ``gpu: null`` where PyTorch sees no
GPU. The reader is ``BertConfig()`` (bert-base) with seeded random weights (``benchmarks/reader.py``: no
model hub here; a random model costs what the trained one costs), each question with its own SQuAD dev
paragraph and 9 others (``speed_workload``). DocQA's reader runs with ``backend="auto"`` — it times the CUDA
runtimes beside the CPU's and picks (the choice is printed) — and reads all 10 passages (adaptive reading
off, as Haystack reads them all); Haystack's ``TransformersExtractiveReader`` and
``SentenceTransformersDocumentEmbedder`` run on ``cuda:0``. Clients are threads calling the component, as
the service's request threads do (DocQA's GPU reader shares their passes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def per_question_ms(run: Callable[[str, Any], Any], work: Sequence[tuple[str, Any]]) -> float:
    """Median milliseconds of one question asked alone (after one warm-up question)."""
    run(*work[0])
    seconds = []
    for question, docs in work:
        started = time.perf_counter()
        run(question, docs)
        seconds.append(time.perf_counter() - started)
    return round(1000 * statistics.median(seconds), 2)


def questions_per_s(run: Callable[[str, Any], Any], work: Sequence[tuple[str, Any]], clients: int,
                    rounds: int = 3) -> float:
    """Questions per second with ``clients`` threads asking ``work`` back to back, ``rounds`` times over."""
    jobs = [item for _ in range(rounds) for item in work]
    cursor = iter(range(len(jobs)))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            run(*jobs[i])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(len(jobs) / (time.perf_counter() - started), 1)


def measure_gpu(questions: int = 64, clients: int = 32, passages: int = 5000) -> dict | None:
    """The GPU figures, or None where PyTorch sees no GPU (``DOCQA_CUDA=0`` included)."""
    from docqa.pipelines.components.gpu import gpu_identity

    gpu = gpu_identity()
    if gpu is None:
        return None
    from haystack import Document
    from haystack.utils import ComponentDevice
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
    )
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader
    from reader import build_bert_base, speed_workload

    from docqa.pipelines.components.embedders.sentence_embedders import SentenceEncoder
    from docqa.pipelines.components.readers.reader import DocQAReader
    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    device = ComponentDevice.from_str("cuda:0")
    work = speed_workload(questions, 10)
    report: dict[str, Any] = {"gpu": gpu.to_dict(), "questions": questions, "passages_per_question": 10,
                              "clients": clients}
    with tempfile.TemporaryDirectory(prefix="docqa-gpu-") as tmp:
        model_dir = build_bert_base(Path(tmp) / "bert-base-random")
        ours = DocQAReader(str(model_dir), backend="auto", max_answer_length=None, no_answer_threshold=0.0,
                           adaptive=False)
        ours.warm_up()
        theirs = TransformersExtractiveReader(str(model_dir), device=device)
        theirs.warm_up()
        readers = {"docqa": lambda q, d: ours.run(q, d), "haystack": lambda q, d: theirs.run(q, d)}
        report["reader_backend"] = ours.backend_choice.to_dict() if ours.backend_choice else None
        for name, run in readers.items():
            report[f"reader_ms_per_question_{name}"] = per_question_ms(run, work)
            report[f"reader_qps_{clients}_clients_{name}"] = questions_per_s(run, work, clients)
        report["reader_ms_ratio_vs_haystack"] = round(
            report["reader_ms_per_question_haystack"] / report["reader_ms_per_question_docqa"], 2)
        qps = {name: report[f"reader_qps_{clients}_clients_{name}"] for name in readers}
        report["reader_qps_ratio_vs_haystack"] = round(qps["docqa"] / qps["haystack"], 2)

    texts = [doc.content for _, docs in work for doc in docs]
    texts = (texts * (passages // max(1, len(texts)) + 1))[:passages]
    encoder = SentenceEncoder(packaged_embedding_model_dir(), backend="auto")
    encoder.encode(texts[:64])
    started = time.perf_counter()
    encoder.encode(texts)
    ours_s = time.perf_counter() - started
    embedder = SentenceTransformersDocumentEmbedder(model=str(packaged_embedding_model_dir()), device=device,
                                                    progress_bar=False, batch_size=256)
    embedder.warm_up()
    documents = [Document(content=t) for t in texts]
    embedder.run(documents[:64])
    started = time.perf_counter()
    embedder.run(documents)
    theirs_s = time.perf_counter() - started
    report.update({
        "embedder_backend": encoder.choice.to_dict(),
        "embed_passages_per_s_docqa": round(passages / ours_s, 1),
        "embed_passages_per_s_haystack": round(passages / theirs_s, 1),
        "embed_ratio_vs_haystack": round(theirs_s / ours_s, 2),
    })
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--passages", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = measure_gpu(args.questions, args.clients, args.passages)
    if report is None:
        print(json.dumps({"gpu": None}) if args.json else "No CUDA GPU PyTorch can use: nothing to measure")
        return 0
    print(json.dumps(report, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
