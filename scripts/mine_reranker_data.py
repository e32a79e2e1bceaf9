"""Mine the reranker's training data on a CPU: hard negatives from DocQA's own hybrid retrieval.

    python scripts/mine_reranker_data.py .gpu/rerank            # resumable; progress on stderr
    python scripts/mine_reranker_data.py /tmp/r --limit 300     # a small run to check the script

What it writes into OUT_DIR (compact, so that it can travel to a lent GPU machine beside the code):

- ``train.json.xz``: the 24,558 paragraphs of ``qa-train-squad11-shifts.json.gz`` (115k answerable
  questions of SQuAD 1.1 train and SQuADShifts, disjoint from every SQuAD 2.0 dev article), the question
  texts and each question's gold paragraph index;
- ``train-negatives.npz``: ``candidates`` (questions × K, uint16, 65535 = none): the product's hybrid top-K
  over all 24,558 paragraphs (the same ``LocalDocumentStore.hybrid_retrieval``, z-score fusion of dense
  MiniLM and BM25, that serves ``docqa ask``), with the gold paragraph and every paragraph containing one
  of the question's gold answer strings removed (a same-article paragraph that holds the answer is more
  often a second positive than a negative); ``gold_rank`` (the gold's rank in that list, 0 = first,
  -1 = not in the top K+) says how hard each question was for hybrid retrieval;
- ``dev.json.gz``: the dev articles of ``make_compact_reader_data.py`` (Harvard_University, Force),
  indexed with the 20 distractor articles (``squad2-distractors.json``) as the benchmark indexes the test
  articles: every answerable dev question with its hybrid top-:data:`DEV_CANDIDATES` passages, in
  hybrid order, and the gold passage's index. The reranker's epochs and N are chosen on this set; the
  test articles (Normans, Steam_engine, Packet_switching, Imperialism) are in no file written here.

Resumable: the passage and question vectors and the mined rows are checkpointed under ``OUT_DIR/work``
(``--resume`` is the default; ``--fresh`` starts over). Deterministic for a given embedder backend.
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_SHARED = REPO.parent / "shared" / "data"
TRAIN_FILE = "qa-train-squad11-shifts.json.gz"
TOP_K = 24  # hybrid candidates kept per training question (before removing gold/answer-holding ones)
DEV_CANDIDATES = 30
CHUNK = 2000  # questions mined between checkpoints
NONE = 65535  # "no candidate" in the uint16 candidates array


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _embed(encoder, texts: list[str], path: Path, label: str, batch: int = 64) -> np.ndarray:
    """Vectors of ``texts``: from ``path`` when a previous run finished them, else embedded (progress)."""
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(texts):
            return vectors
    started = time.time()
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    step = 2048
    for start in range(0, len(texts), step):
        out[start:start + step] = encoder.encode(texts[start:start + step], batch_size=batch)
        done = min(len(texts), start + step)
        rate = done / max(1e-9, time.time() - started)
        _log(f"{label}: {done}/{len(texts)} embedded ({rate:.0f}/s, {(len(texts) - done) / rate:.0f} s left)")
    np.save(path, out)
    return out


def _snapshot(passages: list, vectors: np.ndarray, model: str):
    from docqa.ingest.records import SourceFile, utc_now
    from docqa.pipelines.document_stores.local.index import InMemoryIndex

    by_title: dict[str, list[int]] = {}
    for i, doc in enumerate(passages):
        by_title.setdefault(str(doc.meta.get("title", "")), []).append(i)
    additions = []
    for title, rows in by_title.items():
        docs = [passages[i] for i in rows]
        source = SourceFile(key=f"squad:{title}", file_name=title, title=title, kind="squad", sha256="",
                            size=0, mtime_ns=0, page_lengths=[len(d.content or "") for d in docs],
                            passage_ids=[d.id for d in docs], ingested_at=utc_now())
        additions.append((source, docs, vectors[rows]))
    return InMemoryIndex.empty(model, vectors.shape[1]).replace_files(set(), additions)


def _holds(context: str, answers: tuple[str, ...]) -> bool:
    lowered = context.lower()
    return any(a.strip().lower() in lowered for a in answers if a.strip())


def mine_train(shared: Path, out: Path, work: Path, model: str, top_k: int, limit: int | None) -> str:
    from docqa.pipelines.components.embedders.sentence_embedders import get_encoder
    from docqa.pipelines.document_stores.local.store import LocalDocumentStore
    from docqa.pipelines.evaluation.retrieval_eval import squad_passages
    from docqa.pipelines.squad import read_squad

    squad = read_squad(shared / TRAIN_FILE)
    passages, _ = squad_passages(squad)
    index_of = {p.id: i for i, p in enumerate(passages)}
    from docqa.pipelines.evaluation.retrieval_eval import passage_id

    questions: list[tuple[str, int, tuple[str, ...]]] = []
    for paragraph in squad.paragraphs:
        pid = passage_id(paragraph.title.strip(), paragraph.context)
        for ex in paragraph.examples:
            if not ex.marked_impossible:
                questions.append((ex.question, index_of[pid], ex.gold_texts))
    if limit:
        questions = questions[:limit]
    _log(f"train: {len(passages)} paragraphs, {len(questions)} questions")
    encoder = get_encoder(model)
    texts = [p.content or "" for p in passages]
    pvec = _embed(encoder, texts, work / "passage-vectors.npy", "paragraphs")
    qvec = _embed(encoder, [q for q, _, _ in questions], work / f"question-vectors-{len(questions)}.npy",
                  "questions", batch=256)
    store = LocalDocumentStore(_snapshot(passages, pvec, model))
    rows_path = work / f"mined-{len(questions)}-{top_k}.npy"
    mined = np.load(rows_path) if rows_path.exists() else np.full((len(questions), top_k + 1), -2, np.int32)
    todo = [i for i in range(len(questions)) if mined[i, 0] == -2]
    started, done_before = time.time(), len(questions) - len(todo)
    for n, i in enumerate(todo, start=1):
        question, _, _ = questions[i]
        hits = store.hybrid_retrieval(question, qvec[i], top_k=top_k + 1)
        ids = [index_of[d.id] for d in hits]
        mined[i] = -1
        mined[i, :len(ids)] = ids
        if n % CHUNK == 0 or n == len(todo):
            np.save(rows_path, mined)
            rate = n / max(1e-9, time.time() - started)
            _log(f"mined {done_before + n}/{len(questions)} ({rate:.1f} q/s, "
                 f"{(len(todo) - n) / rate / 60:.0f} min left)")
    gold = np.array([g for _, g, _ in questions], dtype=np.int32)
    candidates = np.full((len(questions), top_k), -1, dtype=np.int32)
    gold_rank = np.full(len(questions), -1, dtype=np.int32)
    dropped = 0
    for i, (_, g, answers) in enumerate(questions):
        row = [int(x) for x in mined[i] if x >= 0]
        if g in row:
            gold_rank[i] = row.index(g)
        kept = [x for x in row if x != g and not _holds(texts[x], answers)]
        dropped += len(row) - (g in row) - len(kept)
        kept = kept[:top_k]
        candidates[i, :len(kept)] = kept
    assert len(texts) < NONE  # paragraph indices fit uint16 (smaller to carry than int32)
    np.savez_compressed(out / "train-negatives.npz", candidates=np.where(candidates < 0, NONE, candidates)
                        .astype(np.uint16), gold_rank=gold_rank.astype(np.int8))
    payload = {"source": TRAIN_FILE, "embedding_model": model, "retrieval": f"hybrid top-{top_k + 1}",
               "paragraphs": texts, "questions": [q for q, _, _ in questions], "gold": gold.tolist()}
    with lzma.open(out / "train.json.xz", "wt", encoding="utf-8", preset=9) as fh:
        json.dump(payload, fh, ensure_ascii=False)
    found = gold_rank >= 0
    return (f"train: {len(questions)} questions; hybrid R@1 {np.mean(gold_rank == 0):.3f}, "
            f"R@{top_k + 1} {found.mean():.3f}; {dropped} answer-holding candidates dropped; "
            f"negatives per question: mean {(candidates >= 0).sum(1).mean():.1f}")


def mine_dev(shared: Path, out: Path, model: str, query_model: str | None = None) -> str:
    from docqa.pipelines.components.embedders.sentence_embedders import get_encoder
    from docqa.pipelines.document_stores.local.store import LocalDocumentStore
    from docqa.pipelines.evaluation.retrieval_eval import load_squad_corpus
    from docqa.pipelines.squad import read_squad
    from scripts.make_compact_reader_data import DEV_ARTICLES, TEST_ARTICLES

    public = json.loads((shared / "squad2-dev-public.json").read_text(encoding="utf-8"))
    dev_articles = [a for a in public["data"] if a["title"] in DEV_ARTICLES]
    assert not {a["title"] for a in dev_articles} & set(TEST_ARTICLES)
    tmp = out / "work" / "dev-articles.json"
    tmp.write_text(json.dumps({"version": "v2.0", "data": dev_articles}), encoding="utf-8")
    passages, questions = load_squad_corpus(read_squad(tmp), [shared / "squad2-distractors.json"])
    encoder = get_encoder(model)
    texts = [p.content or "" for p in passages]
    store = LocalDocumentStore(_snapshot(passages, encoder.encode(texts), model))
    index_of = {p.id: i for i, p in enumerate(passages)}
    qvec = get_encoder(query_model or model).encode([q for _, q, _ in questions])
    rows, r1 = [], 0
    for (qid, question, gold), vec in zip(questions, qvec, strict=True):
        hits = store.hybrid_retrieval(question, vec, top_k=DEV_CANDIDATES)
        ids = [index_of[d.id] for d in hits]
        r1 += bool(ids) and ids[0] == index_of[gold]
        rows.append({"id": qid, "question": question, "gold": index_of[gold], "candidates": ids,
                     "hybrid_scores": [round(float(d.score or 0.0), 4) for d in hits]})
    used = sorted({i for r in rows for i in r["candidates"]} | {r["gold"] for r in rows})
    remap = {old: new for new, old in enumerate(used)}
    for r in rows:
        r["gold"] = remap[r["gold"]]
        r["candidates"] = [remap[i] for i in r["candidates"]]
    payload = {"articles": list(DEV_ARTICLES), "distractors": "squad2-distractors.json",
               "query_encoder": str(query_model or model),
               "indexed_passages": len(passages), "retrieval": f"hybrid top-{DEV_CANDIDATES}",
               "passages": [texts[i] for i in used], "questions": rows}
    with gzip.open(out / "dev.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False)
    return (f"dev: {len(rows)} questions over {len(passages)} indexed passages; "
            f"hybrid R@1 {r1 / len(rows):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--top-k", type=int, default=TOP_K)
    parser.add_argument("--limit", type=int, default=None, help="mine only the first N training questions")
    parser.add_argument("--embedding-model", default=None, help="default: DOCQA_EMBEDDING_MODEL / packaged")
    parser.add_argument("--fresh", action="store_true", help="ignore checkpoints under OUT_DIR/work")
    parser.add_argument("--query-encoder", default=None,
                        help="the dev questions' encoder: same or a fitted encoder's directory (default: "
                             "DOCQA_QUERY_ENCODER / same), as docqa ask embeds them")
    parser.add_argument("--dev-only", action="store_true", help="write dev.json.gz only")
    args = parser.parse_args()
    from docqa.config import Settings
    from docqa.pipelines.components.embedders.query_encoder import query_model_for

    model = args.embedding_model or Settings.from_env().embedding_model
    query_model = query_model_for(model, args.query_encoder)
    work = args.out_dir / "work"
    if args.fresh and work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    lines = [mine_dev(args.shared, args.out_dir, model, query_model)]
    _log(lines[-1])
    if args.dev_only:
        return
    lines.append(mine_train(args.shared, args.out_dir, work, model, args.top_k, args.limit))
    _log(lines[-1])
    (args.out_dir / "MINED.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
