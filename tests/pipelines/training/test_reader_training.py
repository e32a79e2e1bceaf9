"""`docqa train-reader` on a tiny random BERT and a tiny SQuAD file: it learns, writes a model directory
the reader loads, resumes after a kill with the same result, and reports bad input per question."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from docqa.app.cli import app
from docqa.pipelines.components.readers.qa_windows import build_windows
from docqa.pipelines.squad import (
    ANSWER_NOT_AT_START,
    BAD_FIELD,
    DUPLICATE_ID,
    MISSING_FIELD,
    SquadFileError,
    load_squad,
)
from docqa.pipelines.training.checkpoints import STATE_DIR
from docqa.pipelines.training.features import bucketed_batches, build_training_features
from docqa.pipelines.training.reader_training import TrainingConfig, TrainingError, train_reader

PARAGRAPHS = [
    ("Rollo was a Viking leader. He founded the Duchy of Normandy in 911 near the river Seine.",
     [("Who founded the Duchy of Normandy?", "Rollo"), ("When was the Duchy founded?", "911"),
      ("Near which river?", "Seine")]),
    ("The steam engine was improved by James Watt in 1776. Watt added a separate condenser.",
     [("Who improved the steam engine?", "James Watt"), ("What did Watt add?", "a separate condenser")]),
    ("Packet switching groups data into packets. Paul Baran developed the concept in 1960.",
     [("Who developed packet switching?", "Paul Baran"), ("What is grouped into packets?", "data")]),
]


def squad_file(path: Path, with_impossible: bool = True) -> Path:
    paragraphs = []
    for p_i, (context, qas) in enumerate(PARAGRAPHS):
        items = [{"id": f"q{p_i}-{q_i}", "question": q, "is_impossible": False,
                  "answers": [{"text": a, "answer_start": context.index(a)}]}
                 for q_i, (q, a) in enumerate(qas)]
        if with_impossible:
            items.append({"id": f"q{p_i}-x", "question": "What colour is the moon's cheese?",
                          "is_impossible": True, "answers": []})
        paragraphs.append({"context": context, "qas": items})
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "Tiny", "paragraphs": paragraphs}]}),
                    encoding="utf-8")
    return path


def config(tmp_path: Path, base: Path, out: str, **kw) -> TrainingConfig:
    data = squad_file(tmp_path / "train.json")
    settings = dict(train_file=data, dev_file=data, base_model=str(base), out_dir=tmp_path / out, epochs=3,
                    batch_size=4, learning_rate=3e-3, max_seq_length=64, stride=16, warmup_ratio=0.0,
                    show_progress=False, checkpoint_every=2, device="cpu")
    settings.update(kw)
    return TrainingConfig(**settings)


def quiet(_line: str) -> None:
    pass


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the trainer never raises the count above it)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow  # trains
def test_training_lowers_the_loss_and_writes_a_model_the_reader_answers_with(tmp_path, tiny_qa_model_dir):
    from haystack import Document

    from docqa.pipelines.components.readers.reader import DocQAReader

    cfg = config(tmp_path, tiny_qa_model_dir, "model", epochs=12, fp16=True)
    result = train_reader(cfg, log=quiet)
    losses = [e["train_loss"] for e in result.epochs]
    assert losses[-1] < losses[0] * 0.6, losses
    assert all("dev" in e for e in result.epochs)
    out = cfg.out_dir
    for name in ("config.json", "model.safetensors", "tokenizer.json", "TRAINING.md",
                 "training_metrics.json"):
        assert (out / name).exists(), name
    assert not (out / STATE_DIR).exists()  # checkpoints are cleaned up after a finished run
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForQuestionAnswering"]
    training_md = (out / "TRAINING.md").read_text()
    assert "train.json" in training_md and "lr 0.003" in training_md and "(kept)" in training_md

    reader = DocQAReader(model=str(out))
    context = PARAGRAPHS[0][0]
    answers = reader.run("Who founded the Duchy of Normandy?", [Document(content=context)])["answers"]
    assert answers and answers[0].data == "Rollo"


@pytest.mark.slow  # trains twice
def test_resume_after_a_kill_ends_with_the_same_weights(tmp_path, tiny_qa_model_dir):
    from safetensors.torch import load_file

    straight = train_reader(config(tmp_path, tiny_qa_model_dir, "straight"), log=quiet)

    cfg = config(tmp_path, tiny_qa_model_dir, "killed")

    class Killed(Exception):
        pass

    def kill_at_step_5(step: int) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train_reader(cfg, log=quiet, on_step=kill_at_step_5)
    assert (cfg.out_dir / STATE_DIR / "checkpoint.pt").exists()
    assert not (cfg.out_dir / "model.safetensors").exists()
    with pytest.raises(TrainingError, match="--resume"):
        train_reader(cfg, log=quiet)  # refuses to overwrite an unfinished run
    with pytest.raises(TrainingError, match="learning_rate"):
        changed = config(tmp_path, tiny_qa_model_dir, "killed", resume=True, learning_rate=1e-3)
        train_reader(changed, log=quiet)

    cfg.resume = True
    resumed = train_reader(cfg, log=quiet)
    assert resumed.resumed_at_step == 4  # last checkpoint before the kill (every 2 steps)
    a = load_file(str(straight.out_dir / "model.safetensors"))
    b = load_file(str(resumed.out_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert [e["dev"] for e in straight.epochs] == [e["dev"] for e in resumed.epochs]


def test_windows_are_the_readers_and_answerless_windows_point_at_cls():
    from transformers import AutoTokenizer

    from docqa.pipelines.model_loading import packaged_embedding_model_dir
    from docqa.pipelines.squad import AnswerSpan, SquadExample

    tokenizer = AutoTokenizer.from_pretrained(packaged_embedding_model_dir())
    filler = " ".join(f"Sentence number {i} says nothing at all." for i in range(30))
    context = filler + " The answer is Rollo."
    start = context.index("Rollo")
    example = SquadExample("q", "Who is the answer?", context, "t", (AnswerSpan("Rollo", start),), ("Rollo",))
    features, stats = build_training_features(tokenizer, [example], max_seq_length=64, stride=16,
                                              max_question_tokens=16)
    reader_windows = build_windows(tokenizer, example.question, [context], max_seq_length=64, stride=16,
                                   max_question_tokens=16)
    assert [f.window.input_ids.tolist() for f in features] == [w.input_ids.tolist() for w in reader_windows]
    assert len(features) > 3 and stats.answer_windows == sum(f.has_answer for f in features) >= 1
    for f in features:
        if f.has_answer:
            assert context[f.window.offsets[f.start, 0]:f.window.offsets[f.end, 1]] == "Rollo"
        else:
            assert f.start == f.end == f.window.cls_index


def test_length_bucketed_batches_cover_everything_once_and_repeat_per_seed():
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 384, size=203).tolist()
    batches = bucketed_batches(lengths, 8, seed=1, epoch=0, pool=4)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(203))
    assert batches == bucketed_batches(lengths, 8, seed=1, epoch=0, pool=4)
    assert batches != bucketed_batches(lengths, 8, seed=1, epoch=1, pool=4)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 100  # random batches of 8 would span ~250 tokens


def test_bad_questions_are_reported_counted_and_skipped(tmp_path):
    context = "Rollo founded the Duchy of Normandy in 911."
    qas = [
        {"id": "ok", "question": "Who?", "answers": [{"text": "Rollo", "answer_start": 0}]},
        {"id": "shifted", "question": "When?", "answers": [{"text": "911", "answer_start": 36}]},  # really 39
        {"id": "wrong", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 5}]},
        {"id": "noq", "answers": [{"text": "Rollo", "answer_start": 0}]},
        {"question": "No id?", "answers": [{"text": "Rollo", "answer_start": 0}]},
        {"id": "ok", "question": "Again?", "answers": [{"text": "Rollo", "answer_start": 0}]},
        {"id": "noans", "question": "What?"},
        {"id": "flag", "question": "Odd?", "is_impossible": "yes", "answers": []},
        {"id": "imp", "question": "Colour?", "is_impossible": True, "answers": []},
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [
        {"title": "T", "paragraphs": [{"context": context, "qas": qas}, {"qas": [{"id": "orphan"}]}]}]}))
    examples, report = load_squad(path)
    assert [e.qid for e in examples] == ["ok", "shifted", "imp"]
    assert examples[1].answers[0].start == context.index("911")
    assert report.repaired_offsets == 1
    assert report.answerable == 2 and report.unanswerable == 1
    assert report.skipped_questions == 7
    counts = report.counts()
    assert counts[ANSWER_NOT_AT_START] == 1 and counts[DUPLICATE_ID] == 1 and counts[BAD_FIELD] == 1
    assert counts[MISSING_FIELD] == 4  # question text, id, answers, paragraph context
    text = report.format()
    assert "answer 'Paris' is not at answer_start 5" in text and "(id wrong)" in text
    assert "1 answer offsets repaired" in text and "7 questions skipped" in text


def train_cli(*args: str):
    """``docqa train-reader ARGS`` as a user runs it (errors go through the CLI's one handler)."""
    return CliRunner().invoke(app, ["train-reader", *args], env={"HF_HUB_OFFLINE": "1"})


@pytest.mark.parametrize(("content", "message"), [
    ("", "the file is empty"),
    ("{not json", "is not valid JSON"),
    ('{"data": []}', "has no usable questions"),
    ('{"version": "v2.0"}', '"data" list'),
])
def test_unusable_files_fail_with_one_clear_message(tmp_path, content, message, tiny_qa_model_dir):
    path = tmp_path / "train.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SquadFileError, match=message):
        load_squad(path)
    result = train_cli("--train", str(path), "--out", str(tmp_path / "out"), "--base", str(tiny_qa_model_dir))
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert err.startswith(f"error: {path}: ") and message in err
    assert "Traceback" not in result.output + result.stderr


def test_gzipped_squad_reads_like_the_plain_file(tmp_path):
    import gzip

    plain = squad_file(tmp_path / "train.json")
    packed = tmp_path / "train.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    examples, report = load_squad(plain)
    examples_gz, report_gz = load_squad(packed)
    assert examples_gz == examples and report_gz.sha256 != report.sha256 and report_gz.usable == report.usable


def test_cli_names_a_missing_base_model_and_a_used_out_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    data = squad_file(tmp_path / "train.json")
    result = train_cli("--train", str(data), "--out", str(tmp_path / "out"), "--base", "nobody/no-such-model")
    assert result.exit_code == 2
    assert "huggingface-cli download nobody/no-such-model" in " ".join(result.stderr.split())
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("precious")
    result = train_cli("--train", str(data), "--out", str(used), "--base", "nobody/no-such-model")
    assert result.exit_code == 2
    assert "is not empty" in result.stderr and (used / "keep.txt").read_text() == "precious"


def test_a_time_limit_keeps_the_finished_epochs_and_says_the_run_was_cut_short(tmp_path, tiny_qa_model_dir):
    import time as clock

    cfg = config(tmp_path, tiny_qa_model_dir, "limited", epochs=5, time_limit_s=0.5, checkpoint_every=1000)

    def slow_step(_step: int) -> None:
        clock.sleep(0.2)  # ~3 steps per epoch: the first epoch alone takes longer than the limit

    result = train_reader(cfg, log=quiet, on_step=slow_step)
    assert len(result.epochs) == 1 and result.best_epoch == 1
    assert result.stopped_early and "time limit" in result.stopped_early
    assert (cfg.out_dir / "model.safetensors").exists()
    assert "Stopped early" in (cfg.out_dir / "TRAINING.md").read_text()
    assert json.loads((cfg.out_dir / "training_metrics.json").read_text())["stopped_early"]


def test_parallel_tokenisation_gives_the_same_features_in_the_same_order(tmp_path, tiny_qa_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qa_model_dir)
    examples, _ = load_squad(squad_file(tmp_path / "train.json"))
    examples = examples * 200  # above the size where worker processes are used
    settings = dict(max_seq_length=64, stride=16, max_question_tokens=32)
    one, one_stats = build_training_features(tokenizer, examples, **settings)
    two, two_stats = build_training_features(tokenizer, examples, workers=2, **settings)
    assert one_stats == two_stats
    assert [(f.start, f.end, f.example) for f in one] == [(f.start, f.end, f.example) for f in two]
    assert all(np.array_equal(a.window.input_ids, b.window.input_ids) for a, b in zip(one, two, strict=True))


def test_step_budget_counts_the_evaluations_due_and_never_plans_past_the_schedule():
    from docqa.pipelines.training.time_budget import LinearSchedule, StepBudget

    budget = StepBudget(limit_s=100, epoch_ends=[10, 20, 30], eval_guess_s=5, final_s=15)
    assert budget.fitted_total(step=0, elapsed_s=0, seconds_per_step=1, planned=30) == 30
    # 80 s after the final evaluation and writing; two epoch-end evaluations before step 23 cost 10 s
    assert budget.fitted_total(step=0, elapsed_s=0, seconds_per_step=3, planned=30) == 23
    assert budget.fitted_total(step=12, elapsed_s=99, seconds_per_step=3, planned=30) == 13  # always one step
    budget.eval_s = 0.0  # a measured evaluation replaces the guess
    assert budget.fitted_total(step=0, elapsed_s=0, seconds_per_step=3, planned=30) == 28
    schedule = LinearSchedule(warmup=2, total=10)
    assert [round(schedule(s), 3) for s in (0, 1, 2, 6, 10, 12)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    schedule.total = 6
    assert schedule(6) == 0.0


@pytest.mark.slow  # trains
def test_fitting_to_a_time_limit_ends_the_schedule_in_time_and_scores_the_last_partial_epoch(
        tmp_path, tiny_qa_model_dir):
    import time as clock

    cfg = config(tmp_path, tiny_qa_model_dir, "fitted", epochs=60, time_limit_s=4.0, fit_to_time_limit=True,
                 checkpoint_every=1000)
    started = clock.perf_counter()
    result = train_reader(cfg, log=quiet, on_step=lambda _step: clock.sleep(0.03))
    seconds = clock.perf_counter() - started
    planned = 60 * result.epochs[0]["steps"]
    assert 25 <= result.epochs[-1]["steps"] < planned  # timed, then cut to what fits
    assert result.stopped_early and "decayed to 0" in result.stopped_early
    assert all("dev" in record for record in result.epochs)  # the last (maybe partial) epoch is scored too
    assert seconds < 4.0 + 2.0
    assert (cfg.out_dir / "model.safetensors").exists()
    assert json.loads((cfg.out_dir / "training_metrics.json").read_text())["settings"]["fit_to_time_limit"]
    with pytest.raises(TrainingError, match="fit_to_time_limit needs a time limit"):
        train_reader(config(tmp_path, tiny_qa_model_dir, "nolimit", fit_to_time_limit=True), log=quiet)
