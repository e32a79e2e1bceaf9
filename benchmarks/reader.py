"""Reader benchmark (run by hand): speed vs Haystack's reader, int8 agreement, no-answer rules.

    python benchmarks/reader.py [--json] [--quick] [--every N] [--questions N] [--model-dir DIR]
                                [--skip-speed] [--skip-accuracy] [--skip-adaptive]

Every figure is printed with the CPU it was measured on (model, cores, avx2 / avx512 / vnni / amx): which
backend is fastest depends on it (see pipelines/components/measured_choice.py).

1. Speed. A bert-base-sized QA model (``BertConfig()`` defaults, seeded random weights, MiniLM tokenizer)
   reads 20 questions × 10 SQuAD paragraphs of ``../shared/data/squad2-dev-public.json``. In the same run:
   Haystack's ``TransformersExtractiveReader`` vs ``DocQAReader`` on torch, onnx-fp32, onnx-int8 and
   ``auto`` (its choice measured in this run, on this CPU, in a temporary cache; adaptive reading off so
   that every reader reads all 10 paragraphs);
   median seconds per question and ratios. Top answers (text + document + offsets) of ours on torch are
   compared with Haystack's. For that comparison our reader runs with ``max_answer_length=None`` (Haystack
   has no limit) and the random model has equal segment embeddings (Haystack does not pass
   ``token_type_ids``; we do), so both compute the same logits.
2. Agreement/F1. The shared *test* reader (``minilm-squad2-test``) on the file's questions (every N-th,
   gold paragraph only): top-answer agreement of onnx-fp32/onnx-int8 with torch fp32, and each
   backend's F1 at its best no-answer threshold τ.
   Speed runs interleave: every question is read by Haystack and by each backend in turn (rotating
   order), so load from other processes on a shared machine falls on all of them alike.

   int8 recipes measured while choosing ``quantize_int8`` (test reader: 449 questions = every 8th,
   agreement of the top answer with onnx-fp32 and F1 at each one's best τ, fp32 F1 66.49; speed: random
   bert-base, ratio to Haystack over 8-10 questions in one interleaved run, 2 shared cores, load 1-3):

   ======================================================  =========  =====  ==========
   int8 recipe (weights per-channel unless noted)           agreement  F1     × Haystack
   ======================================================  =========  =====  ==========
   ORT default ops (also embeddings) dynamic, QA head fp32    75.1%    63.53
   MatMul + Attention dynamic, QA head fp32 ("fast")          80.2%    64.83  4.4 / 7.3
   same, QA head int8 too                                     80.0%    64.92
   same, per-tensor weights                                   60.4%    62.04
   previous: FFN + QA head fp32, embeddings int8              93.5%    65.53  2.7
   per-token activation scales (own graph), FFN2 fp32         96.9%    66.28  < fp32
   SmoothQuant α=0.5 (generic calibration text) + dynamic     78.8%    64.01
   FFN as MatMulNBits 8-bit block 32, attention fp32          96.7%    66.81  2.3
   chosen: FFN MatMulNBits 8-bit block 32, attention          96.2%    66.05  3.8
   output dynamic, QKV / QA head / embeddings fp32
   ======================================================  =========  =====  ==========

   (× Haystack: ratio of summed seconds in one interleaved run; "4.4" and "2.7"/"2.3" with fixed batches
   of 8, "7.3" and "3.8" with length-capped batches, where onnx-fp32 was 3.5×. Keeping any single
   layer's FFN in fp32 gave 80-82%: the error is spread over all layers — per-tensor activation scales
   are the problem, so only per-block/per-token scales recover it.)
4. Adaptive reading end to end (``benchmarks/reader_adaptive.py``): test reader, BM25 top-k over the 955
   SQuAD passages, questions of articles not used to fit the stopping rule; seconds per question and F1
   with adaptive reading on and off (interleaved) at top-k 5/10/20; then, at top-k 10, seconds on the
   random bert-base reading exactly the passages the test reader's adaptive run read (``adaptive_*``
   JSON keys; ``adaptive_speedup`` is the test reader's, ``adaptive_speedup_bert_base`` the replay's).
3. No-answer rules, same questions and model: F1 of our null-score rule (``null − best > τ``, τ
   calibrated) vs Haystack's ∏(1−p) no-answer score (its best threshold too), both with the official
   best-threshold search. NB: the test reader was fine-tuned on squad2-dev-public.json, so these F1 are
   optimistic; they compare rules, they are not accuracy claims.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
SQUAD = SHARED / "data" / "squad2-dev-public.json"
TEST_READER = SHARED / "models" / "minilm-squad2-test"
BACKEND_NAMES = ("torch", "onnx-fp32", "onnx-int8", "torch-bf16")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_bert_base(out_dir: Path) -> Path:
    """``BertConfig()`` (bert-base) QA model, seeded random weights, MiniLM tokenizer; equal segment
    embeddings so that passing token_type_ids (us) or not (Haystack) gives the same logits."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    tokenizer = AutoTokenizer.from_pretrained(packaged_embedding_model_dir())
    torch.manual_seed(0)
    model = BertForQuestionAnswering(BertConfig(vocab_size=len(tokenizer))).eval()
    with torch.no_grad():
        emb = model.bert.embeddings.token_type_embeddings.weight
        emb[1:] = emb[0]
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def speed_workload(n_questions: int, n_paragraphs: int):
    """``n_questions`` questions, each with its own paragraph plus ``n_paragraphs - 1`` others."""
    from haystack import Document

    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    step = len(paragraphs) // n_questions
    work = []
    for i in range(n_questions):
        own = i * step
        question = paragraphs[own]["qas"][0]["question"]
        chosen = [own] + [(own + 37 * k) % len(paragraphs) for k in range(1, n_paragraphs)]
        docs = [Document(content=paragraphs[j]["context"], id=f"p{j}") for j in chosen]
        work.append((question, docs))
    return work


def timed_interleaved(runners: dict, work) -> tuple[dict, dict]:
    """Median seconds per question and outputs for each runner. Runners take turns on every question
    (the order rotates), so load from other processes on a shared machine falls on all of them alike
    instead of on whichever happened to run during a busy minute."""
    names = list(runners)
    for name in names:
        runners[name](*work[0])  # warm-up (first call pays lazy initialisation)
    seconds: dict = {name: [] for name in names}
    outputs: dict = {name: [] for name in names}
    for i, (question, docs) in enumerate(work):
        for name in names[i % len(names):] + names[: i % len(names)]:
            t0 = time.perf_counter()
            outputs[name].append(runners[name](question, docs))
            seconds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in seconds.items()}, outputs


def top_key(answer) -> tuple:
    return answer.data, answer.document.id, answer.document_offset.start, answer.document_offset.end


def bench_speed(n_questions: int, n_paragraphs: int, batch_size: int, model_dir: Path | None = None) -> dict:
    import os

    import torch
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    from docqa.pipelines.components.readers.reader import DocQAReader

    work = speed_workload(n_questions, n_paragraphs)
    result: dict = {"speed_questions": n_questions, "speed_paragraphs_per_question": n_paragraphs}
    with tempfile.TemporaryDirectory(prefix="docqa-bench-") as tmp:
        if model_dir is None or not (model_dir / "config.json").exists():
            # seeded: the same weights every time, so a kept --model-dir (and its ONNX export) is reused
            model_dir = build_bert_base(model_dir or Path(tmp) / "bert-base-random")
        log(f"[speed] bert-base random model in {model_dir}; "
            f"{n_questions} questions × {n_paragraphs} paragraphs")

        haystack = TransformersExtractiveReader(str(model_dir), model_kwargs={"dtype": torch.float32})
        haystack.warm_up()
        runners = {"haystack": lambda q, d: haystack.run(q, d)["answers"]}
        os.environ["DOCQA_CACHE_DIR"] = str(Path(tmp) / "cache")  # auto measures afresh, on this CPU
        for backend in (*BACKEND_NAMES, "auto"):
            reader = DocQAReader(str(model_dir), backend=backend, max_answer_length=None,
                                 batch_size=batch_size, no_answer_threshold=0.0, adaptive=False)
            t0 = time.perf_counter()
            reader.warm_up()  # ONNX: export + fusion + quantisation, once per model; auto: + measuring
            log(f"[speed] {backend:9s} ready in {time.perf_counter() - t0:.1f} s")
            if backend == "auto":
                result["auto_backend"] = reader.active_backend
                result["auto_choice"] = reader.backend_choice.to_dict()
                log(f"[speed] auto chose {reader.active_backend}: {reader.backend_choice.measurements}")
            runners[backend] = lambda q, d, r=reader: r.run(q, d)["answers"]
        medians, outputs = timed_interleaved(runners, work)
        result["haystack_s"] = medians["haystack"]
        log(f"[speed] haystack  {result['haystack_s']:.3f} s/question")
        hs_top = [top_key(next(a for a in answers if a.data is not None)) for answers in outputs["haystack"]]
        for backend in (*BACKEND_NAMES, "auto"):
            key = backend.replace("-", "_")
            result[f"{key}_s"] = medians[backend]
            same = sum(top_key(o[0]) == h for o, h in zip(outputs[backend], hs_top, strict=True)) / len(work)
            result[f"identical_top_{key}"] = same
            log(f"[speed] {backend:9s} {medians[backend]:.3f} s/question; "
                f"top answer identical to Haystack's: {same:.0%}")
        # weak check (random weights give flat logits), but on the speed model itself
        pairs = zip(outputs["onnx-int8"], outputs["onnx-fp32"], strict=True)
        same_int8 = sum(top_key(a[0]) == top_key(b[0]) for a, b in pairs)
        result["int8_top_agreement_speed_model"] = same_int8 / len(work)
        log(f"[speed] onnx-int8 top answer same as onnx-fp32 on the random bert-base: "
            f"{result['int8_top_agreement_speed_model']:.0%}")
    result["speedup_torch"] = result["haystack_s"] / result["torch_s"]
    result["speedup_fp32"] = result["haystack_s"] / result["onnx_fp32_s"]
    result["speedup_int8"] = result["haystack_s"] / result["onnx_int8_s"]
    result["speedup_bf16"] = result["haystack_s"] / result["torch_bf16_s"]
    result["speedup_auto"] = result["haystack_s"] / result["auto_s"]
    return result


def haystack_rule_runs(examples, progress):
    """Haystack's reader on the test model: forced answer and its ∏(1−p) no-answer score per question."""
    import torch
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    reader = TransformersExtractiveReader(str(TEST_READER), model_kwargs={"dtype": torch.float32})
    reader.warm_up()
    preds, na = {}, {}
    for example in progress(examples):
        answers = reader.run(example.question, example.passages)["answers"]
        real = [a for a in answers if a.data is not None]
        preds[example.qid] = real[0].data if real else ""
        na[example.qid] = next(a.score for a in answers if a.data is None)
    return preds, na


def bench_accuracy(every: int, progress) -> dict:
    from docqa.pipelines.components.readers.reader import DocQAReader
    from docqa.pipelines.evaluation.reader_eval import (
        best_threshold,
        load_squad_examples,
        read_examples,
        score_runs,
    )
    from docqa.pipelines.evaluation.squad_metrics import squad_v2_metrics

    examples = load_squad_examples(SQUAD)[::every]
    log(f"[accuracy] test reader {TEST_READER.name} on {len(examples)} questions of {SQUAD.name} "
        f"(every {every}th; gold paragraph)")
    result: dict = {"accuracy_questions": len(examples)}
    runs = {}
    for backend in ("torch", "onnx-fp32", "onnx-int8"):
        reader = DocQAReader(str(TEST_READER), backend=backend, no_answer_threshold=0.0)
        runs[backend] = read_examples(reader, examples, questions_per_batch=16, progress=progress)
        tau, f1 = best_threshold(examples, runs[backend])
        forced = score_runs(examples, runs[backend], threshold=float("inf"))
        name = backend.replace("-", "_").replace("onnx_", "")
        result[f"f1_{name}"] = f1
        result[f"tau_{name}"] = tau
        result[f"hasans_f1_forced_{name}"] = forced["HasAns_f1"]
        log(f"[accuracy] {backend:9s} F1 at best τ={tau:.3f}: {f1:.2f}; "
            f"HasAns F1 forced: {forced['HasAns_f1']:.2f}")
    for backend in ("onnx-fp32", "onnx-int8"):
        pairs = zip(runs[backend], runs["torch"], strict=True)
        agree = sum(a.forced_answer == b.forced_answer for a, b in pairs)
        result[f"agreement_{backend.replace('-', '_').replace('onnx_', '')}"] = agree / len(examples)
    log(f"[accuracy] top-answer agreement with torch: fp32 {result['agreement_fp32']:.1%}, "
        f"int8 {result['agreement_int8']:.1%}")

    result["f1_null_rule"] = result["f1_torch"]
    preds, na = haystack_rule_runs(examples, progress)
    golds = {e.qid: e.answers for e in examples}
    hs = squad_v2_metrics(golds, preds, na_probs=na, forced_preds=preds)
    result["f1_haystack_rule"] = hs["best_f1"]
    result["haystack_rule_best_thresh"] = hs["best_f1_thresh"]
    log(f"[no-answer] null-score rule (calibrated τ) F1 {result['f1_null_rule']:.2f} vs Haystack ∏(1−p) rule "
        f"(best threshold {hs['best_f1_thresh']:.3f}) F1 {result['f1_haystack_rule']:.2f} "
        f"— test reader was trained on {SQUAD.name}: compare rules only")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 questions, every 60th question")
    parser.add_argument("--every", type=int, default=None,
                        help="accuracy part: every N-th question of the file (default 4 = 898 questions, "
                             "about 3 minutes on 2 cores; 1 = all 3,592)")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (ours)")
    parser.add_argument("--questions", type=int, default=20,
                        help="speed part: questions (10 paragraphs each)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="speed part: keep the random bert-base (and its ONNX export) here between runs")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-adaptive", action="store_true")
    args = parser.parse_args(argv)
    for needed in (SQUAD, TEST_READER / "config.json"):
        if not needed.exists():
            print(f"missing {needed}: the benchmark needs ../shared (development data)", file=sys.stderr)
            return 2

    from rich.progress import track

    def progress(items):
        return track(items, description="reading", console=None, transient=True)

    import torch

    from docqa.pipelines.components.measured_choice import cpu_identity

    cpu = cpu_identity()
    log(f"[cpu] {cpu.describe()}")
    started = time.perf_counter()
    result: dict = {"threads": torch.get_num_threads(), "cpu": cpu.to_dict()}
    if not args.skip_speed:
        result.update(bench_speed(3 if args.quick else args.questions, 10, args.batch_size, args.model_dir))
    if not args.skip_accuracy:
        result.update(bench_accuracy(args.every or (60 if args.quick else 4), progress))
    if not args.skip_adaptive:
        from benchmarks.reader_adaptive import bench_adaptive

        result.update(bench_adaptive(args.quick))
    result["total_s"] = time.perf_counter() - started

    print(f"CPU: {cpu.describe()} — every figure below was measured on it")
    if "haystack_s" in result:
        print(f"Speed (median s/question, bert-base random, 2 cores): Haystack {result['haystack_s']:.3f} | "
              f"torch {result['torch_s']:.3f} ({result['speedup_torch']:.2f}×) | onnx-fp32 "
              f"{result['onnx_fp32_s']:.3f} ({result['speedup_fp32']:.2f}×) | onnx-int8 "
              f"{result['onnx_int8_s']:.3f} ({result['speedup_int8']:.2f}×) | torch-bf16 "
              f"{result['torch_bf16_s']:.3f} ({result['speedup_bf16']:.2f}×) | "
              f"auto [{result['auto_backend']}] "
              f"{result['auto_s']:.3f} ({result['speedup_auto']:.2f}×); identical top answers vs Haystack: "
              f"torch {result['identical_top_torch']:.0%}, auto {result['identical_top_auto']:.0%}")
    if "f1_torch" in result:
        print(f"Test reader, {result['accuracy_questions']} questions: "
              f"int8 agreement {result['agreement_int8']:.1%}; F1 torch {result['f1_torch']:.2f} / "
              f"fp32 {result['f1_fp32']:.2f} / int8 {result['f1_int8']:.2f}; "
              f"no-answer F1 null rule {result['f1_null_rule']:.2f} vs Haystack rule "
              f"{result['f1_haystack_rule']:.2f} (model trained on this file)")
    if "adaptive_table" in result:
        from benchmarks.reader_adaptive import print_table

        print_table(result["adaptive_table"])
        print(f"Adaptive at top-10: {result['adaptive_speedup']:.2f}× fewer seconds per question, "
              f"F1 {result['adaptive_f1_delta']:+.2f}"
              + (f"; random bert-base replaying the same stops: {result['adaptive_speedup_bert_base']:.2f}×"
                 if "adaptive_speedup_bert_base" in result else ""))
    print(f"Total {result['total_s']:.0f} s")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
