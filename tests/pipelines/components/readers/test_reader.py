"""DocQAReader as a user meets it: answers with offsets, pages, merged sources, no-answer, errors."""

from __future__ import annotations

import json

import pytest
from haystack import Document, Pipeline

from docqa.config import Settings
from docqa.errors import ConfigError
from docqa.pipelines.components.readers import calibration as calibration_store
from docqa.pipelines.components.readers.backends import ReaderBackendName
from docqa.pipelines.components.readers.reader import DocQAReader, locate_in_page
from docqa.pipelines.evaluation.reader_eval import (
    best_threshold,
    calibrate,
    evaluate_reader,
    load_squad_examples,
)
from docqa.pipelines.model_loading import ModelUnavailableError

NORMANS = (
    "The Normans (Norman: Nourmands; French: Normands; Latin: Normanni) were the people who in the 10th "
    "and 11th centuries gave their name to Normandy, a region in France. They were descended from Norse "
    "raiders and pirates from Denmark, Iceland and Norway who, under their leader Rollo, agreed to swear "
    "fealty to King Charles III of West Francia."
)


@pytest.fixture(scope="module")
def tiny_reader(tiny_qa_model_dir):
    reader = DocQAReader(str(tiny_qa_model_dir), top_k=5, no_answer_threshold=0.0)
    reader.warm_up()
    return reader


@pytest.fixture(scope="module")
def real_reader(test_reader_dir):
    reader = DocQAReader(str(test_reader_dir), top_k=3, no_answer_threshold=0.0)
    reader.warm_up()
    return reader


def test_answers_are_exact_substrings_with_scores_in_0_1(tiny_reader):
    docs = [Document(content=NORMANS), Document(content="Zürich liegt an der Limmat; café naïve.")]
    out = tiny_reader.run("Who was the leader?", docs)
    assert out["answers"], "the tiny model always finds some span"
    scores = [a.score for a in out["answers"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores) and 0.0 <= out["no_answer_score"] <= 1.0
    for answer in out["answers"]:
        span = answer.document_offset
        assert answer.document.content[span.start : span.end] == answer.data
        assert answer.context[answer.context_offset.start : answer.context_offset.end] == answer.data
        assert {"sources", "null_score_diff", "start_logit", "end_logit", "unsure"} <= set(answer.meta)
        assert len(answer.data.split()) <= 30


def test_no_documents_and_empty_passages_do_not_crash(tiny_reader):
    assert tiny_reader.run("Anything?", []) == {"answers": [], "no_answer": True, "no_answer_score": 1.0,
                                                "passages_read": 0}
    out = tiny_reader.run("Anything?", [Document(content=""), Document(content="   ")])
    assert out["answers"] == [] and out["no_answer"] is True


def test_threshold_decides_no_answer_and_keeps_candidates(tiny_reader):
    docs = [Document(content=NORMANS)]
    sure = tiny_reader.run("Who?", docs, no_answer_threshold=1e9)
    unsure = tiny_reader.run("Who?", docs, no_answer_threshold=-1e9)
    assert sure["no_answer"] is False and unsure["no_answer"] is True
    assert [a.data for a in sure["answers"]] == [a.data for a in unsure["answers"]]
    assert all(a.meta["unsure"] for a in unsure["answers"])
    assert not any(a.meta["unsure"] for a in sure["answers"])


def test_same_answer_in_two_passages_is_one_answer_with_two_sources(tiny_reader):
    docs = [Document(content=NORMANS, id="first"), Document(content=NORMANS, id="second")]
    out = tiny_reader.run("Who was the leader?", docs)
    top = out["answers"][0]
    assert {s["document_id"] for s in top.meta["sources"]} == {"first", "second"}
    texts = [a.data for a in out["answers"]]
    assert len(texts) == len(set(texts))


def test_page_offsets_locate_answer_in_its_page():
    # passage = page 2 from char 5 to 15, separator "\n\n", page 3 from 0 to 12, empty page 4, page 5 0..4
    page2, page3, page5 = "0123456789", "abcdefghijkl", "WXYZ"
    content = page2 + "\n\n" + page3 + "\n\n\n\n" + page5
    offsets = [[2, 5, 15], [3, 0, 12], [5, 0, 4]]
    assert locate_in_page(offsets, len(content), 1, 3) == (2, 6, 8)
    start = content.index("cde")
    assert locate_in_page(offsets, len(content), start, start + 3) == (3, 2, 5)
    start = content.index("XY")
    assert locate_in_page(offsets, len(content), start, start + 2) == (5, 1, 3)


def test_answer_meta_has_page_and_page_offset(tiny_reader):
    doc = Document(content=NORMANS, meta={"page_offsets": [[7, 100, 100 + len(NORMANS)]]})
    answer = tiny_reader.run("Who?", [doc])["answers"][0]
    assert answer.meta["page"] == 7
    assert answer.meta["page_offset"]["start"] == answer.document_offset.start + 100
    assert answer.meta["sources"][0]["page"] == 7


def test_missing_model_says_how_to_get_it(tmp_path):
    reader = DocQAReader(str(tmp_path / "no-such-model"))
    with pytest.raises(ModelUnavailableError) as info:
        reader.run("Q?", [Document(content="text")])
    message = str(info.value)
    assert "huggingface-cli download" in message and "DOCQA_READER_MODEL" in message
    assert "Traceback" not in message


def test_unknown_backend_is_rejected_early():
    with pytest.raises(ValueError, match="onnx-int8"):
        DocQAReader("whatever", backend="tensorrt")
    choices = "auto, torch, onnx-fp32, onnx-int8, torch-bf16"
    with pytest.raises(ConfigError, match=f"'tensorrt'; choose one of: {choices}"):
        DocQAReader("whatever", backend="tensorrt")


def test_backend_from_the_environment_is_accepted_as_the_same_string(monkeypatch):
    monkeypatch.setenv("DOCQA_READER_BACKEND", "onnx-int8")
    reader = DocQAReader("whatever", backend=Settings.from_env().reader_backend)
    assert reader.backend is ReaderBackendName.ONNX_INT8
    assert reader.backend == "onnx-int8" and f"{reader.backend}" == "onnx-int8"  # calibration keys
    assert [b.value for b in ReaderBackendName] == ["auto", "torch", "onnx-fp32", "onnx-int8", "torch-bf16",
                                               "cuda", "cuda-fp16"]


def test_to_dict_from_dict_round_trip_gives_the_same_answers(tiny_qa_model_dir):
    original = DocQAReader(str(tiny_qa_model_dir), backend="torch", top_k=2, no_answer_threshold=0.5,
                           max_seq_length=128, stride=32, max_answer_length=12, batch_size=3)
    data = original.to_dict()
    assert data["type"] == "docqa.pipelines.components.readers.reader.DocQAReader"
    assert data["init_parameters"]["backend"] == "torch" and data["init_parameters"]["top_k"] == 2
    json.dumps(data)  # plain data, as Pipeline.dumps needs
    copy = DocQAReader.from_dict(data)
    assert copy.to_dict() == data and copy._backend is None  # settings only; loading waits for warm_up
    copy.warm_up()
    original.warm_up()
    docs = [Document(content=NORMANS), Document(content="Paris is the capital of France.")]
    ours, theirs = original.run("Who was the leader?", docs), copy.run("Who was the leader?", docs)
    assert [(a.data, a.score) for a in ours["answers"]] == [(a.data, a.score) for a in theirs["answers"]]
    assert ours["no_answer"] == theirs["no_answer"] and len(ours["answers"]) == 2


def test_reader_survives_a_haystack_pipeline_dump_and_load(tiny_qa_model_dir):
    pipeline = Pipeline()
    pipeline.add_component("reader", DocQAReader(str(tiny_qa_model_dir), backend="onnx-fp32", top_k=1))
    loaded = Pipeline.loads(pipeline.dumps(), allowed_modules=["docqa.pipelines"])  # Haystack's allowlist
    reader = loaded.get_component("reader")
    assert isinstance(reader, DocQAReader) and reader.backend is ReaderBackendName.ONNX_FP32
    assert reader.to_dict() == pipeline.get_component("reader").to_dict()


def test_stored_threshold_is_used_unless_given(tiny_qa_model_dir, tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    monkeypatch.setenv("DOCQA_CONFIG", str(config))
    model = str(tiny_qa_model_dir)
    assert DocQAReader(model).threshold() == 0.0
    calibration_store.save_reader_calibration(model, "torch", 1e9, calibrated_on="dev.json", f1=50.0)
    reader = DocQAReader(model, backend="torch")
    reader.warm_up()
    assert reader.threshold() == 1e9
    assert reader.run("Who?", [Document(content=NORMANS)])["no_answer"] is False
    assert DocQAReader(model, no_answer_threshold=-2.0).threshold() == -2.0
    data = json.loads(config.read_text())
    assert data["readers"][f"{model}|torch"]["calibrated_on"] == "dev.json"


def test_calibration_store_is_atomic_and_keeps_other_keys(tmp_path):
    path = tmp_path / "cfg" / "config.json"
    calibration_store.save_config({"index": "/x"}, path)
    calibration_store.save_reader_calibration("m", "onnx-int8", 0.5, calibrated_on="f.json", f1=60.0,
                                              path=path)
    assert calibration_store.load_config(path)["index"] == "/x"
    assert calibration_store.stored_threshold("m", "onnx-int8", path) == 0.5
    assert calibration_store.stored_threshold("m", "torch", path) is None
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp files left
    path.write_text("{broken")
    with pytest.raises(calibration_store.ConfigFileError, match="config.json"):
        calibration_store.stored_threshold("m", "torch", path)


def test_run_batch_equals_run(tiny_reader):
    docs = [Document(content=NORMANS), Document(content="Paris is the capital of France.")]
    single = [tiny_reader.run(q, docs)["answers"][0].data for q in ("Who?", "Where is Paris?")]
    batch = tiny_reader.run_batch(["Who?", "Where is Paris?"], [docs, docs])
    assert [b["answers"][0].data for b in batch] == single


def test_real_reader_answers_easy_questions(real_reader):
    docs = [Document(content=NORMANS)]
    assert real_reader.run("Who was the Norse leader?", docs)["answers"][0].data == "Rollo"
    assert real_reader.run("In what country is Normandy located?", docs)["answers"][0].data == "France"
    answered = real_reader.run("When were the Normans in Normandy?", docs)
    assert answered["answers"][0].data == "10th and 11th centuries" and answered["no_answer"] is False
    # a question the passage cannot answer: the null score wins, candidates stay available as unsure
    unanswerable = real_reader.run("What is the capital of Japan?", docs)
    assert unanswerable["no_answer"] is True and unanswerable["answers"][0].meta["unsure"] is True
    assert unanswerable["no_answer_score"] > answered["no_answer_score"]


def _write_squad(path, title, context, qas):
    path.write_text(json.dumps({"version": "v2.0", "data": [
        {"title": title, "paragraphs": [{"context": context, "qas": qas}]}]}))
    return path


def test_load_squad_and_evaluate_and_calibrate(real_reader, tmp_path, monkeypatch):
    squad = _write_squad(tmp_path / "mini.json", "Normans", NORMANS, [
        {"id": "q1", "question": "Who was the Norse leader?",
         "answers": [{"text": "Rollo", "answer_start": 0}],
         "is_impossible": False},
        {"id": "q2", "question": "When were the Normans in Normandy?",
         "answers": [{"text": "10th and 11th centuries", "answer_start": 0}], "is_impossible": False},
        {"id": "q3", "question": "What is the capital of Japan?", "answers": [], "is_impossible": True},
    ])
    examples = load_squad_examples(squad)
    assert [e.qid for e in examples] == ["q1", "q2", "q3"]
    assert examples[0].passages[0].meta["title"] == "Normans" and examples[2].answers == []
    metrics = evaluate_reader(real_reader, examples)
    assert metrics["HasAns_exact"] == 100.0
    assert {"exact", "f1", "NoAns_f1", "best_f1", "best_f1_thresh", "p50_ms", "p95_ms"} <= set(metrics)
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "config.json"))
    result = calibrate(real_reader, examples, save_as=("minilm", "torch", str(squad)))
    assert result["f1"] >= metrics["f1"]
    assert result["f1"] == pytest.approx(metrics["best_f1"])
    assert calibration_store.stored_threshold("minilm", "torch") == result["no_answer_threshold"]


def test_best_threshold_is_exact_on_synthetic_runs():
    from docqa.pipelines.evaluation.reader_eval import ReaderExample, ReaderRun

    examples = [ReaderExample("a", "?", [], ["x"]), ReaderExample("b", "?", [], []),
                ReaderExample("c", "?", [], ["y"])]
    runs = [ReaderRun("a", "x", -1.0, False, 0.1, 0.0), ReaderRun("b", "z", 2.0, False, 0.5, 0.0),
            ReaderRun("c", "y", 1.0, False, 0.3, 0.0)]
    tau, f1 = best_threshold(examples, runs)
    assert f1 == pytest.approx(100.0) and 1.0 <= tau < 2.0


def test_bad_squad_file_names_the_file(tmp_path):
    from docqa.pipelines.evaluation.reader_eval import SquadFileError

    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"paragraphs": [{"qas": []}]}]}')
    with pytest.raises(SquadFileError, match="bad.json.*context"):
        load_squad_examples(bad)
