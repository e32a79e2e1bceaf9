"""CUDA runtimes in ``auto`` (issue 24): timed only where PyTorch sees a GPU, chosen under the same rules as
the CPU's, cached apart from choices made without a GPU, refused with one line where there is none.

These machines have no GPU, so timings are injected (no clock here) and the half-precision path the GPU
runs is checked on the CPU: the same model in fp16 must keep fp32's answers.
"""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from docqa.errors import ConfigError
from docqa.pipelines.components import gpu as gpu_module
from docqa.pipelines.components.embedders.auto_backend import choose_embedding_backend
from docqa.pipelines.components.embedders.sentence_embedders import SentenceEncoder
from docqa.pipelines.components.gpu import GpuIdentity, cuda_available, gpu_identity
from docqa.pipelines.components.measured_choice import ChoiceCache, Measurement, cpu_identity
from docqa.pipelines.components.rankers.auto_backend import choose_reranker_backend
from docqa.pipelines.components.rankers.backends import load_backend as load_reranker_backend
from docqa.pipelines.components.readers.auto_backend import (
    calibration_pairs,
    candidates_for,
    choose_reader_backend,
    top_answers,
)
from docqa.pipelines.components.readers.backends import ReaderBackendName, TorchBackend, load_backend
from docqa.pipelines.components.readers.qa_windows import build_windows
from docqa.pipelines.model_loading import packaged_embedding_model_dir

H200 = GpuIdentity(name="NVIDIA H200", memory_gib=139.8, capability="9.0", count=1)
AVX2_CPU = cpu_identity("model name\t: AMD EPYC\nflags\t\t: avx avx2 fma\n")


class FakeMeasure:
    """Returns the given timings and records which candidates it was asked to time."""

    def __init__(self, measured: dict[str, Measurement]) -> None:
        self.measured, self.calls, self.candidates = measured, 0, ()

    def __call__(self, load, *args, candidates=()):
        self.calls += 1
        self.candidates = tuple(str(c) for c in candidates)
        return {k: Measurement(v.seconds, v.agreement) for k, v in self.measured.items()
                if k in self.candidates}, {}


@pytest.fixture
def no_probe_cache():
    gpu_module._probe.cache_clear()
    yield
    gpu_module._probe.cache_clear()


def test_the_cpu_wheel_means_no_gpu_and_docqa_cuda_0_hides_one(no_probe_cache, monkeypatch) -> None:
    assert gpu_identity() is None and not cuda_available()  # this project's pinned torch is +cpu
    monkeypatch.setattr(gpu_module, "_cpu_only_torch", lambda: False)
    monkeypatch.setattr(gpu_module, "_driver_present", lambda: False)
    assert gpu_identity() is None  # a CUDA build without a driver: torch is not even imported to ask
    gpu_module._probe.cache_clear()
    monkeypatch.setattr(gpu_module, "_probe", lambda: H200)
    assert gpu_identity() == H200
    monkeypatch.setenv("DOCQA_CUDA", "0")
    assert gpu_identity() is None and not cuda_available()
    assert "H200" in H200.describe() and "139 GiB" not in H200.describe() and "140 GiB" in H200.describe()


def _choose_reader(tmp_path, fake, gpu, cache):
    model_dir = tmp_path / "model"
    if not model_dir.exists():  # written once: the choice is keyed by the model files' fingerprint
        model_dir.mkdir()
        (model_dir / "config.json").write_text("{}")
    tokenizer = AutoTokenizer.from_pretrained(packaged_embedding_model_dir())
    return choose_reader_backend(model_dir, tokenizer, load=lambda kind: None, compact=True,
                                 max_seq_length=384, stride=128, max_question_tokens=64, cache=cache,
                                 cpu=AVX2_CPU, gpu=gpu, measure_fn=fake)[0]


def test_reader_auto_times_cuda_only_with_a_gpu_and_caches_the_two_apart(tmp_path) -> None:
    assert ReaderBackendName.CUDA not in candidates_for(AVX2_CPU)
    assert {ReaderBackendName.CUDA, ReaderBackendName.CUDA_FP16} <= set(candidates_for(AVX2_CPU, H200))
    cache = ChoiceCache(tmp_path / "choices.json")
    fake = FakeMeasure({"torch": Measurement(3.0), "onnx-fp32": Measurement(2.0),
                        "onnx-int8": Measurement(2.5, 1.0), "cuda": Measurement(0.08),
                        "cuda-fp16": Measurement(0.03, 1.0)})
    without = _choose_reader(tmp_path, fake, None, cache)
    assert without.backend == "onnx-fp32" and "cuda" not in fake.candidates and without.gpu == ""
    with_gpu = _choose_reader(tmp_path, fake, H200, cache)
    assert (with_gpu.backend, with_gpu.chosen_by, fake.calls) == ("cuda-fp16", "measured", 2)
    assert "H200" in with_gpu.gpu
    # the machine without the GPU again: its own cached choice, not the GPU's
    again = _choose_reader(tmp_path, fake, None, cache)
    assert (again.backend, again.chosen_by, fake.calls) == ("onnx-fp32", "cached measurement", 2)


def test_fp16_on_the_gpu_is_chosen_only_when_it_keeps_the_answers(tmp_path) -> None:
    fake = FakeMeasure({"onnx-fp32": Measurement(2.0), "cuda": Measurement(0.08),
                        "cuda-fp16": Measurement(0.03, 0.90)})
    choice = _choose_reader(tmp_path, fake, H200, ChoiceCache(tmp_path / "c.json"))
    assert choice.backend == "cuda"  # fp16 lost 10% of the top answers: fp32 on the GPU instead
    slow_gpu = FakeMeasure({"onnx-fp32": Measurement(2.0), "cuda": Measurement(2.1),
                            "cuda-fp16": Measurement(2.05, 1.0)})
    choice = _choose_reader(tmp_path, slow_gpu, H200, ChoiceCache(tmp_path / "d.json"))
    assert choice.backend == "onnx-fp32"  # a GPU that does not beat the CPU is not used


def test_embedder_and_reranker_auto_time_cuda_only_with_a_gpu(tmp_path) -> None:
    timings = {"onnx": Measurement(1.0), "onnx-int8": Measurement(0.8, 1.0), "torch-fp32": Measurement(2.0),
               "torch": Measurement(2.0), "onnx-fp32": Measurement(1.0), "cuda": Measurement(0.05),
               "cuda-fp16": Measurement(0.02, 0.99)}
    model_dir = packaged_embedding_model_dir()
    fake = FakeMeasure(timings)
    cpu_only, _ = choose_embedding_backend(model_dir, lambda n: None, cache=ChoiceCache(tmp_path / "e.json"),
                                           cpu=AVX2_CPU, gpu=None, measure_fn=fake)
    assert cpu_only.backend == "onnx-int8" and "cuda" not in fake.candidates
    on_gpu, _ = choose_embedding_backend(model_dir, lambda n: None, cache=ChoiceCache(tmp_path / "e.json"),
                                         cpu=AVX2_CPU, gpu=H200, measure_fn=fake)
    assert on_gpu.backend == "cuda-fp16" and {"cuda", "cuda-fp16"} <= set(fake.candidates)
    ranker_dir = tmp_path / "reranker"
    ranker_dir.mkdir()
    (ranker_dir / "config.json").write_text("{}")
    fake = FakeMeasure(timings)
    ranked, _ = choose_reranker_backend(ranker_dir, lambda n: None, lambda q, ps: [([1, 2], 1)] * len(ps),
                                        cache=ChoiceCache(tmp_path / "r.json"), cpu=AVX2_CPU, gpu=H200,
                                        measure_fn=fake)
    assert ranked.backend == "cuda-fp16" and {"cuda", "cuda-fp16"} <= set(fake.candidates)


def test_naming_a_cuda_runtime_without_a_gpu_fails_in_one_line(tiny_qa_model_dir) -> None:
    for load in (lambda: load_backend("cuda-fp16", tiny_qa_model_dir),
                 lambda: SentenceEncoder(packaged_embedding_model_dir(), backend="cuda"),
                 lambda: load_reranker_backend("cuda", tiny_qa_model_dir)):
        with pytest.raises(ConfigError) as err:
            load()
        message = str(err.value)
        assert "CUDA GPU" in message and "\n" not in message and "'auto'" in message


def test_half_precision_weights_keep_the_readers_answers(shared_dir) -> None:
    """What ``cuda-fp16`` runs, on the CPU: the test reader with fp16 weights gives fp32's top answers."""
    model_dir = shared_dir / "models" / "minilm-squad2-test"
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    pairs = calibration_pairs(compact=True)[:12]
    windows = [build_windows(tokenizer, q, [c]) for q, c in pairs]
    contexts = [c for _, c in pairs]
    half = TorchBackend(model_dir, dtype="float16", device="cpu")
    fp32 = top_answers(load_backend("torch", model_dir), windows, contexts)
    same = sum(a == b for a, b in zip(top_answers(half, windows, contexts), fp32, strict=True))
    assert same >= 11, (same, len(pairs))


def test_a_reader_on_the_gpu_shares_its_passes_between_threads_and_answers_as_alone(
        tiny_qa_model_dir, monkeypatch) -> None:
    """On a GPU, concurrent questions are read in shared passes (one GPU, many threads); stood in for by
    the same torch runtime on the CPU, named ``cuda``."""
    from concurrent.futures import ThreadPoolExecutor

    from haystack import Document

    from docqa.pipelines.components.readers import reader as reader_module
    from docqa.pipelines.components.readers.reader import DocQAReader
    from docqa.pipelines.components.readers.shared_batches import SharedBatches

    monkeypatch.setattr(reader_module, "load_backend", lambda kind, model_dir, **kw: load_backend(
        "torch", model_dir, **kw))
    on_gpu = DocQAReader(str(tiny_qa_model_dir), backend="cuda")
    on_gpu.warm_up()
    alone = DocQAReader(str(tiny_qa_model_dir), backend="torch")
    alone.warm_up()
    assert isinstance(on_gpu._backend, SharedBatches) and not isinstance(alone._backend, SharedBatches)
    docs = [Document(content=f"Paragraph {i}: the council met in Rouen in {1000 + i} under duke Richard.")
            for i in range(6)]
    questions = [f"Where did the council meet in {1000 + i}?" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        shared = list(pool.map(lambda q: on_gpu.run(q, docs, adaptive=False), questions))
    for question, got in zip(questions, shared, strict=True):
        want = alone.run(question, docs, adaptive=False)
        assert [a.data for a in got["answers"]] == [a.data for a in want["answers"]]
        assert got["no_answer"] == want["no_answer"]
    assert on_gpu._backend.calls >= 6 and on_gpu._backend.passes <= on_gpu._backend.calls
