"""Train DocQA's fitted question encoder on a CPU (or a lent GPU), resumable, and write it as a model
directory.

    python scripts/train_query_encoder.py --out /tmp/qenc --work /tmp/qenc-work --bf16 --deadline 3600
    python scripts/train_query_encoder.py --out /tmp/qenc --work /tmp/qenc-work --resume   # after a kill
    python scripts/train_query_encoder.py --out /tmp/qenc --work /tmp/qenc-work --pack-only  # best so far

Data: every answerable question of ``qa-train-squad11-shifts.json.gz`` (115k; SQuAD 1.1 train and
SQuADShifts, disjoint from every SQuAD 2.0 dev article) against all of its 24.5k paragraphs, embedded once
by the packaged MiniLM (the passage side, frozen: :mod:`docqa.pipelines.training.query_encoder_training`
says why). Selection: the dev articles of ``make_compact_reader_data.py`` (Harvard_University, Force)
indexed with the 20 distractor articles, scored by the product's hybrid retrieval
(``LocalDocumentStore.hybrid_retrieval``, top 10). The test articles (Normans, Steam_engine,
Packet_switching, Imperialism) are read by no step of this script.

The model directory holds the fitted encoder's layers in float16 without its word embeddings (they are
the packaged MiniLM's, frozen in training and checked by digest on load) and ``query_encoder.json``
(what it pairs with, the dev scores); :mod:`docqa.pipelines.components.embedders.query_encoder` loads it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_SHARED = REPO.parent / "shared" / "data"
TRAIN_FILE = "qa-train-squad11-shifts.json.gz"
DEV_TOP_K = 10


def _log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def train_data(shared: Path, work: Path, tokenizer, max_tokens: int, limit: int | None):
    """Questions, gold paragraphs, answers and the frozen paragraph vectors (cached in ``work``)."""
    from docqa.pipelines.components.embedders.sentence_embedders import get_encoder
    from docqa.pipelines.evaluation.retrieval_eval import passage_id, squad_passages
    from docqa.pipelines.squad import read_squad
    from docqa.pipelines.training.query_encoder_training import QueryTrainData

    squad = read_squad(shared / TRAIN_FILE)
    passages, _ = squad_passages(squad)
    index_of = {p.id: i for i, p in enumerate(passages)}
    rows = [(ex.question, index_of[passage_id(par.title.strip(), par.context)], ex.gold_texts)
            for par in squad.paragraphs for ex in par.examples if not ex.marked_impossible]
    if limit:
        rows = rows[:limit]
    texts = [p.content or "" for p in passages]
    cached = work / "passage-vectors.npy"
    vectors = np.load(cached) if cached.exists() else None
    if vectors is None or len(vectors) != len(texts):
        _log(f"embedding {len(texts)} paragraphs with the packaged MiniLM (once; cached in {cached})")
        vectors = get_encoder().encode(texts)
        np.save(cached, vectors)
    ids = tokenizer([q for q, _, _ in rows], truncation=True, max_length=max_tokens)["input_ids"]
    return QueryTrainData(questions=ids, gold=np.array([g for _, g, _ in rows], dtype=np.int64),
                          answers=[tuple(a) for _, _, a in rows], paragraphs_lower=[t.lower() for t in texts],
                          passage_vectors=np.asarray(vectors, dtype=np.float32))


def dev_evaluator(shared: Path, work: Path, limit: int | None):
    """A callback scoring a question encoder on the dev articles: dense and hybrid R@1/R@5/MRR."""
    from docqa.pipelines.components.embedders.sentence_embedders import get_encoder
    from docqa.pipelines.document_stores.local.store import LocalDocumentStore
    from docqa.pipelines.evaluation.retrieval_eval import load_squad_corpus
    from docqa.pipelines.squad import read_squad
    from docqa.pipelines.training.reranker_training import rank_metrics
    from scripts.make_compact_reader_data import DEV_ARTICLES, TEST_ARTICLES
    from scripts.mine_reranker_data import _snapshot

    public = json.loads((shared / "squad2-dev-public.json").read_text(encoding="utf-8"))
    articles = [a for a in public["data"] if a["title"] in DEV_ARTICLES]
    assert articles and not {a["title"] for a in articles} & set(TEST_ARTICLES)
    path = work / "dev-articles.json"
    path.write_text(json.dumps({"version": "v2.0", "data": articles}), encoding="utf-8")
    passages, questions = load_squad_corpus(read_squad(path), [shared / "squad2-distractors.json"])
    if limit and limit < len(questions):
        questions = [questions[int(i)] for i in np.linspace(0, len(questions) - 1, limit).round()]
    vectors = get_encoder().encode([p.content or "" for p in passages])
    store = LocalDocumentStore(_snapshot(passages, vectors, "packaged:all-MiniLM-L6-v2"))
    index_of = {p.id: i for i, p in enumerate(passages)}
    texts = [q for _, q, _ in questions]
    gold = np.array([index_of[g] for _, _, g in questions])

    def metrics(ranks: list[int | None], prefix: str) -> dict[str, float]:
        scores = rank_metrics(ranks, (1, 5))
        return {f"{prefix}_r1": scores["recall@1"], f"{prefix}_r5": scores["recall@5"],
                f"{prefix}_mrr": scores["mrr"]}

    def evaluate(encode) -> dict:
        qvecs = encode(texts)
        sims = qvecs @ vectors.T
        dense = [int((sims[i] > sims[i, g]).sum()) + 1 for i, g in enumerate(gold)]
        hybrid = []
        for text, vec, g in zip(texts, qvecs, gold, strict=True):
            ids = [index_of[d.id] for d in store.hybrid_retrieval(text, vec, top_k=DEV_TOP_K)]
            hybrid.append(ids.index(g) + 1 if g in ids else None)
        return {**metrics(dense, "dense"), **metrics(hybrid, "hybrid"), "questions": len(texts)}

    evaluate.meta = {"articles": list(DEV_ARTICLES), "distractors": "squad2-distractors.json",  # type: ignore[attr-defined]
                     "indexed_passages": len(passages), "questions": len(texts)}
    return evaluate


def main() -> None:
    from docqa.pipelines.training.query_encoder_training import QueryEncoderRecipe

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the model directory to write")
    parser.add_argument("--work", type=Path, required=True, help="checkpoints and cached vectors")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--deadline", type=float, default=None, help="seconds the whole run may take")
    parser.add_argument("--resume", action="store_true", help="continue the run in --work")
    parser.add_argument("--pack-only", action="store_true", help="write --out from --work's best weights")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPUs with AVX512-BF16, GPUs)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N questions")
    parser.add_argument("--dev-limit", type=int, default=None, help="score N dev questions (spread)")
    defaults = QueryEncoderRecipe()
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--batch", type=int, default=defaults.batch_questions)
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every)
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from docqa.pipelines.model_loading import packaged_embedding_model_dir
    from docqa.pipelines.training import reranker_state
    from docqa.pipelines.training.query_encoder_training import train_query_encoder

    base = packaged_embedding_model_dir()
    args.work.mkdir(parents=True, exist_ok=True)
    recipe = QueryEncoderRecipe(learning_rate=args.lr, epochs=args.epochs, batch_questions=args.batch,
                                eval_every=args.eval_every)
    if args.pack_only:
        from transformers import AutoModel

        model = AutoModel.from_pretrained(base, dtype=torch.float32)
        best = reranker_state.load_best(args.work)
        if best is None:
            sys.exit(f"{args.work}: no best weights yet (no dev evaluation has run)")
        model.load_state_dict(best)
        state = torch.load(args.work / reranker_state.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
        record = {"recipe": json.loads(state["resume_key"]["recipe"]), "best_evaluation": state["best_index"],
                  "baseline": state["baseline"], "evaluations": state["history"], "steps": state["step"],
                  "packed_from_checkpoint": True}
    else:
        tokenizer = AutoTokenizer.from_pretrained(base)
        _log("reading the training file")
        data = train_data(args.shared, args.work, tokenizer, recipe.max_question_tokens, args.limit)
        evaluate = dev_evaluator(args.shared, args.work, args.dev_limit)
        model, record = train_query_encoder(recipe, data, evaluate, base, tokenizer=tokenizer,
                                            device=args.device, bf16=args.bf16, time_limit_s=args.deadline,
                                            log=_log, state_dir=args.work, resume=args.resume)
        record["dev"] = evaluate.meta  # type: ignore[attr-defined]
    from docqa.pipelines.components.embedders.query_encoder import save_query_encoder

    save_query_encoder(model, args.out, base, record)
    best = record["evaluations"][record["best_evaluation"] - 1]["dev"]
    _log(f"wrote {args.out} (evaluation {record['best_evaluation']}: hybrid R@1 {best['hybrid_r1']:.3f}, "
         f"MRR {best['hybrid_mrr']:.3f}; before training {record['baseline']['hybrid_r1']:.3f} / "
         f"{record['baseline']['hybrid_mrr']:.3f})")


if __name__ == "__main__":
    main()
