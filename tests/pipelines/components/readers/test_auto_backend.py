"""``auto`` picks the fastest backend that keeps int8's answers, remembers it per model and CPU, and
never overrides an explicit setting. Timings and agreements are injected: no clock in these tests."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from docqa.pipelines.components.measured_choice import (
    ChoiceCache,
    Measurement,
    choose_fastest,
    cpu_identity,
    needs_agreement,
)
from docqa.pipelines.components.readers.auto_backend import EXACT, calibration_pairs, choose_reader_backend
from docqa.pipelines.components.readers.backends import ReaderBackendName
from docqa.pipelines.components.readers.qa_windows import build_windows
from docqa.pipelines.components.readers.reader import DocQAReader

AVX2_CPU = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx avx2 fma f16c\n"
VNNI_CPU = "model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f " \
           "avx512_vnni amx_int8\n"


def test_fastest_candidate_that_keeps_the_answers_wins():
    timings = {"torch": Measurement(3.6), "onnx-fp32": Measurement(2.9), "onnx-int8": Measurement(2.0, 0.943)}
    assert choose_fastest(timings, EXACT) == "onnx-fp32"  # int8 faster but loses 5.7% of the answers
    timings["onnx-int8"] = Measurement(2.0, 0.98)
    assert choose_fastest(timings, EXACT) == "onnx-int8"
    timings["onnx-int8"] = Measurement(4.0, None)  # slower: its agreement is never needed
    assert choose_fastest(timings, EXACT) == "onnx-fp32"
    assert needs_agreement(timings, EXACT) == []
    timings["onnx-fp32"] = Measurement(None, error="export failed")
    assert choose_fastest(timings, EXACT) == "torch"


def test_agreement_is_measured_only_for_lossy_candidates_that_could_win():
    timings = {"torch": Measurement(3.0), "onnx-fp32": Measurement(2.0), "onnx-int8": Measurement(1.0)}
    assert needs_agreement(timings, EXACT) == ["onnx-int8"]
    # a lossy candidate whose agreement was not measured is never chosen
    assert choose_fastest(timings, EXACT) == "onnx-fp32"


def test_cpu_identity_reads_model_and_relevant_flags():
    avx2, vnni = cpu_identity(AVX2_CPU), cpu_identity(VNNI_CPU)
    assert avx2.model == "AMD EPYC 7B13" and "avx2" in avx2.flags and "fpu" not in avx2.flags
    assert "vnni=False" in avx2.describe()
    assert "vnni=True" in vnni.describe() and "amx=True" in vnni.describe()
    assert avx2.key != vnni.key
    assert cpu_identity(AVX2_CPU).key == avx2.key


@pytest.fixture(scope="module")
def tokenizer():
    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    return AutoTokenizer.from_pretrained(packaged_embedding_model_dir())


class FakeMeasure:
    """Stands in for timing real backends: returns the given measurements and counts its calls."""

    def __init__(self, measured):
        self.measured = measured
        self.calls = 0
        self.pairs = 0

    def __call__(self, load, windows_per_pair, contexts, candidates=()):
        self.calls += 1
        self.pairs = len(windows_per_pair)
        return {k: Measurement(v.seconds, v.agreement) for k, v in self.measured.items()}, {}


def _choose(model_dir, tokenizer, cache, cpu, fake):
    return choose_reader_backend(model_dir, tokenizer, load=lambda kind: None, compact=True,
                                 max_seq_length=384, stride=128, max_question_tokens=64, cache=cache, cpu=cpu,
                                 measure_fn=fake)


def test_choice_is_cached_per_cpu_and_model(tmp_path, tokenizer):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    cache = ChoiceCache(tmp_path / "cache" / "choices.json")
    fake = FakeMeasure({"torch": Measurement(3.0), "onnx-fp32": Measurement(2.0),
                        "onnx-int8": Measurement(1.0, 0.99)})

    choice, _ = _choose(model_dir, tokenizer, cache, cpu_identity(AVX2_CPU), fake)
    assert (choice.backend, choice.chosen_by, fake.calls) == ("onnx-int8", "measured", 1)
    assert fake.pairs == len(calibration_pairs(compact=True)) >= 40
    stored = json.loads(cache.path.read_text())["choices"]
    assert len(stored) == 1 and next(iter(stored.values()))["backend"] == "onnx-int8"

    again, _ = _choose(model_dir, tokenizer, cache, cpu_identity(AVX2_CPU), fake)
    assert (again.backend, again.chosen_by, fake.calls) == ("onnx-int8", "cached measurement", 1)

    fake.measured["onnx-int8"] = Measurement(1.0, 0.94)  # another CPU: int8 loses answers there
    other, _ = _choose(model_dir, tokenizer, cache, cpu_identity(VNNI_CPU), fake)
    assert (other.backend, other.chosen_by, fake.calls) == ("onnx-fp32", "measured", 2)
    assert "Xeon" in other.cpu

    (model_dir / "model.safetensors").write_bytes(b"new weights")  # a changed model measures again
    _choose(model_dir, tokenizer, cache, cpu_identity(AVX2_CPU), fake)
    assert fake.calls == 3


def test_unreadable_cache_only_costs_a_measurement(tmp_path, tokenizer):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    cache = ChoiceCache(tmp_path / "choices.json")
    cache.path.write_text("{not json")
    fake = FakeMeasure({"torch": Measurement(1.0), "onnx-fp32": Measurement(2.0)})
    choice, _ = _choose(model_dir, tokenizer, cache, cpu_identity(AVX2_CPU), fake)
    assert choice.backend == "torch" and json.loads(cache.path.read_text())["choices"]


def test_other_readers_are_checked_on_the_sample_questions():
    pairs = calibration_pairs(compact=False)
    assert len(pairs) >= 40
    assert {q for q, _ in pairs} >= {"Who founded the Duchy of Normandy?"}


def test_explicit_backend_wins_over_auto(tiny_qa_model_dir, monkeypatch):
    def must_not_measure(*args, **kwargs):
        raise AssertionError("auto measured although a backend was set")

    monkeypatch.setattr("docqa.pipelines.components.readers.reader.choose_reader_backend", must_not_measure)
    reader = DocQAReader(str(tiny_qa_model_dir), backend="torch")
    reader.warm_up()
    assert reader.active_backend == "torch" and reader.backend_choice.chosen_by == "setting"


def test_auto_reader_runs_on_the_chosen_backend(tiny_qa_model_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCQA_CACHE_DIR", str(tmp_path / "cache"))
    fake = {"torch": Measurement(5.0), "onnx-fp32": Measurement(1.0), "onnx-int8": Measurement(2.0)}
    monkeypatch.setattr(
        "docqa.pipelines.components.readers.reader.choose_reader_backend",
        lambda *a, **k: choose_reader_backend(
            *a, **k, measure_fn=lambda load, w, c, candidates=(): (fake, {})))
    reader = DocQAReader(str(tiny_qa_model_dir))
    assert reader.backend is ReaderBackendName.AUTO
    reader.warm_up()
    assert reader.active_backend == "onnx-fp32" and reader._backend.name == "onnx-fp32"
    assert reader.to_dict()["init_parameters"]["backend"] == "auto"  # the setting, not the outcome


BF16_CPU = "model name\t: AMD EPYC 9R14\nflags\t\t: avx avx2 fma avx512f avx512_vnni avx512_bf16\n"


def test_bf16_is_timed_only_where_it_is_native_and_chosen_only_when_it_keeps_the_answers(tmp_path, tokenizer):
    from docqa.pipelines.components.readers.auto_backend import candidates_for

    assert ReaderBackendName.TORCH_BF16 not in candidates_for(cpu_identity(AVX2_CPU))
    assert ReaderBackendName.TORCH_BF16 not in candidates_for(cpu_identity(VNNI_CPU))
    assert ReaderBackendName.TORCH_BF16 in candidates_for(cpu_identity(BF16_CPU))
    assert "bf16=True" in cpu_identity(BF16_CPU).describe()

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    timings = {"torch": Measurement(3.0), "onnx-fp32": Measurement(2.0), "onnx-int8": Measurement(1.5, 0.99),
               "torch-bf16": Measurement(1.0, 0.98)}
    fast = FakeMeasure(timings)
    choice, _ = _choose(model_dir, tokenizer, ChoiceCache(tmp_path / "a.json"), cpu_identity(BF16_CPU), fast)
    assert choice.backend == "torch-bf16"
    lossy = FakeMeasure({**timings, "torch-bf16": Measurement(1.0, 0.90)})  # loses 10% of the answers
    choice, _ = _choose(model_dir, tokenizer, ChoiceCache(tmp_path / "b.json"), cpu_identity(BF16_CPU), lossy)
    assert choice.backend == "onnx-int8"
    # a tie goes to ONNX: a torch backend costs every new process ~2.8 s more to start
    tie = FakeMeasure({**timings, "onnx-int8": Measurement(0.205, 1.0),
                       "torch-bf16": Measurement(0.204, 1.0)})
    choice, _ = _choose(model_dir, tokenizer, ChoiceCache(tmp_path / "c.json"), cpu_identity(BF16_CPU), tie)
    assert choice.backend == "onnx-int8"


def test_bf16_backend_answers_like_fp32(shared_dir):
    """The bf16 runtime on the test reader: the same answers as fp32 torch on the calibration pairs it
    reads (bf16 is emulated on CPUs without it: slow there, but correct everywhere)."""
    from docqa.pipelines.components.readers.auto_backend import top_answers
    from docqa.pipelines.components.readers.backends import load_backend

    model_dir = shared_dir / "models" / "minilm-squad2-test"
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    pairs = calibration_pairs(compact=True)[:12]
    windows = [build_windows(tokenizer, q, [c]) for q, c in pairs]
    contexts = [c for _, c in pairs]
    bf16 = load_backend("torch-bf16", model_dir)
    assert bf16.name == "torch-bf16"
    fp32 = top_answers(load_backend("torch", model_dir), windows, contexts)
    same = sum(a == b for a, b in zip(top_answers(bf16, windows, contexts), fp32, strict=True))
    assert same >= 11, (same, len(pairs))
