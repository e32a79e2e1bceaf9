"""The embedder's ``auto``: the fastest backend that keeps fp32's nearest passages, measured once per
model and CPU; an explicit backend is never second-guessed. Timings are injected: no clock here."""

from __future__ import annotations

import pytest

from docqa.pipelines.components.embedders import auto_backend
from docqa.pipelines.components.embedders.auto_backend import calibration_texts, choose_embedding_backend
from docqa.pipelines.components.embedders.sentence_embedders import EmbeddingBackend, SentenceEncoder
from docqa.pipelines.components.measured_choice import ChoiceCache, Measurement, cpu_identity
from docqa.pipelines.model_loading import packaged_embedding_model_dir

AVX2_CPU = "model name\t: AMD EPYC\nflags\t\t: avx avx2 fma\n"
VNNI_CPU = "model name\t: Intel Xeon\nflags\t\t: avx avx2 fma avx512f avx512_vnni\n"


class FakeMeasure:
    def __init__(self, measured):
        self.measured, self.calls, self.candidates = measured, 0, ()

    def __call__(self, load, questions, paragraphs, candidates=()):
        self.calls += 1
        self.candidates = tuple(candidates)
        assert len(questions) == len(paragraphs) >= 40
        return {k: Measurement(v.seconds, v.agreement) for k, v in self.measured.items()}, {}


def test_int8_only_when_it_keeps_the_nearest_passages_and_choice_is_cached_per_cpu(tmp_path):
    model_dir = packaged_embedding_model_dir()
    cache = ChoiceCache(tmp_path / "choices.json")
    fake = FakeMeasure({"torch": Measurement(3.0), "onnx": Measurement(1.5),
                        "onnx-int8": Measurement(1.0, 0.9)})
    choice, _ = choose_embedding_backend(model_dir, lambda n: None, cache=cache, cpu=cpu_identity(AVX2_CPU),
                                         measure_fn=fake)
    assert (choice.backend, choice.chosen_by) == ("onnx", "measured")  # int8 loses 10% of the passages
    again, _ = choose_embedding_backend(model_dir, lambda n: None, cache=cache, cpu=cpu_identity(AVX2_CPU),
                                        measure_fn=fake)
    assert (again.backend, again.chosen_by, fake.calls) == ("onnx", "cached measurement", 1)
    fake.measured["onnx-int8"] = Measurement(1.0, 1.0)
    vnni, _ = choose_embedding_backend(model_dir, lambda n: None, cache=cache, cpu=cpu_identity(VNNI_CPU),
                                       measure_fn=fake)
    assert (vnni.backend, fake.calls) == ("onnx-int8", 2)


def test_auto_encoder_runs_on_the_measured_backend(tmp_path, monkeypatch):
    fake = FakeMeasure({"torch": Measurement(1.0), "onnx": Measurement(2.0), "onnx-int8": Measurement(3.0)})
    real = auto_backend.choose_embedding_backend
    monkeypatch.setattr(auto_backend, "choose_embedding_backend", lambda model_dir, load: real(
        model_dir, load, cache=ChoiceCache(tmp_path / "c.json"), measure_fn=fake))
    encoder = SentenceEncoder(packaged_embedding_model_dir(), backend="auto")
    assert encoder.backend is EmbeddingBackend.TORCH and encoder.choice.chosen_by == "measured"
    assert encoder.encode(["a sentence"]).shape == (1, encoder.dim)


def test_explicit_embedding_backend_is_not_measured(monkeypatch):
    def must_not_measure(*args, **kwargs):
        raise AssertionError("measured although a backend was set")

    monkeypatch.setattr(auto_backend, "choose_embedding_backend", must_not_measure)
    encoder = SentenceEncoder(packaged_embedding_model_dir(), backend="torch")
    assert encoder.choice.chosen_by == "setting" and encoder.backend is EmbeddingBackend.TORCH


def test_calibration_questions_come_with_their_paragraphs():
    questions, paragraphs = calibration_texts()
    assert len(questions) == len(paragraphs) and len(set(paragraphs)) == len(paragraphs)


@pytest.mark.parametrize("bad", ["gpu", "AUTO"])
def test_unknown_backend_lists_auto(bad):
    from docqa.errors import ConfigError

    with pytest.raises(ConfigError, match="auto, onnx-int8, onnx, torch"):
        EmbeddingBackend.from_str(bad)


def test_runtime_versions_in_the_cache_key_are_the_modules_own_without_importing_them():
    """The key of a measured choice reads versions from package metadata (importing sentence_transformers
    only for ``__version__`` cost every fresh `docqa ask` ~3.5 s): the strings must be the modules' own,
    or every cached measurement would be thrown away and made again."""
    import onnxruntime
    import sentence_transformers
    import torch

    from docqa.pipelines.components.measured_choice import runtime_version

    assert runtime_version("torch") == torch.__version__
    assert runtime_version("onnxruntime") == onnxruntime.__version__
    assert runtime_version("sentence_transformers") == sentence_transformers.__version__
    assert runtime_version("no_such_runtime_docqa") == "-"


class _Encoder:
    def encode(self, texts):
        import numpy as np

        return np.eye(len(texts), 8, dtype=np.float32)


def test_torch_is_timed_only_when_no_onnx_graph_loads():
    """Timing torch cost a first ingest ~13 s and it never won on a CPU (2x slower than ONNX fp32)."""
    from docqa.pipelines.components.embedders.auto_backend import measure

    def load_all(name):
        loads.append(name)
        return _Encoder()

    def onnx_fails(name):
        loads.append(name)
        if name.startswith("onnx"):
            raise RuntimeError("export failed")
        return _Encoder()

    questions, paragraphs = ["q1", "q2"], ["p1", "p2"]
    loads: list[str] = []
    measured, _ = measure(load_all, questions, paragraphs)
    assert loads == ["onnx", "onnx-int8"] and set(measured) == {"onnx", "onnx-int8"}
    loads = []
    measured, loaded = measure(onnx_fails, questions, paragraphs)
    assert loads == ["onnx", "onnx-int8", "torch"] and list(loaded) == ["torch"]
    assert measured["torch"].seconds is not None and "export failed" in measured["onnx"].error
