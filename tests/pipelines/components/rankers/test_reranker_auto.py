"""The reranker's ``auto`` runtime choice: bf16 is timed only where the CPU runs it natively, a lossy
runtime is chosen only if it ranks like fp32 (ties among irrelevant passages do not count against it),
a torch runtime must win clearly, and the bundled reranker in bf16 ranks like fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docqa.pipelines.components.measured_choice import ChoiceCache, Measurement, cpu_identity
from docqa.pipelines.components.rankers.auto_backend import (
    calibration_lists,
    candidates_for,
    choose_reranker_backend,
    ranks_alike,
)
from docqa.pipelines.components.rankers.backends import RerankerBackendName, load_backend
from tests.pipelines.components.readers.test_auto_backend import AVX2_CPU as AVX2
from tests.pipelines.components.readers.test_auto_backend import BF16_CPU as BF16
from tests.pipelines.components.readers.test_auto_backend import VNNI_CPU as VNNI
from tests.pipelines.components.test_gpu_runtimes import FakeMeasure

AVX2_CPU, VNNI_CPU, BF16_CPU = (cpu_identity(text) for text in (AVX2, VNNI, BF16))


def _choose(tmp_path: Path, measured: dict[str, Measurement], cpu, name: str) -> tuple[str, FakeMeasure]:
    model_dir = tmp_path / "reranker"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "config.json").write_text("{}")
    fake = FakeMeasure(measured)
    choice, _ = choose_reranker_backend(model_dir, lambda n: None, lambda q, ps: [([1, 2], 1)] * len(ps),
                                        cache=ChoiceCache(tmp_path / name), cpu=cpu, gpu=None,
                                        measure_fn=fake)
    return choice.backend, fake


def test_bf16_is_timed_only_where_native_and_chosen_only_when_it_ranks_like_fp32(tmp_path) -> None:
    assert "torch-bf16" not in candidates_for(AVX2_CPU) and "torch-bf16" not in candidates_for(VNNI_CPU)
    assert "torch-bf16" in candidates_for(BF16_CPU)
    measured_here = {"torch": Measurement(0.382), "onnx-fp32": Measurement(0.359),  # AMD EPYC, AVX512-BF16
                     "onnx-int8": Measurement(0.315, 1.0), "torch-bf16": Measurement(0.262, 1.0)}
    chosen, fake = _choose(tmp_path, measured_here, BF16_CPU, "h.json")
    assert chosen == "onnx-int8" and "torch-bf16" in fake.candidates  # 17% faster does not pay torch's start
    timings = {**measured_here, "onnx-int8": Measurement(0.33, 0.90), "torch-bf16": Measurement(0.20, 1.0)}
    chosen, fake = _choose(tmp_path, timings, BF16_CPU, "a.json")
    assert chosen == "torch-bf16"  # int8 lost passages, and bf16 is 1.8x faster than fp32 (as with AMX)
    chosen, fake = _choose(tmp_path, timings, AVX2_CPU, "b.json")  # never timed there: int8 lost passages
    assert chosen == "onnx-fp32" and "torch-bf16" not in fake.candidates
    lossy = {**timings, "torch-bf16": Measurement(0.20, 0.90)}
    assert _choose(tmp_path, lossy, BF16_CPU, "c.json")[0] == "onnx-fp32"
    # 16% faster is not enough: a torch runtime costs every new process its modeling imports and load
    tie = {**timings, "torch-bf16": Measurement(0.30, 1.0)}
    assert _choose(tmp_path, tie, BF16_CPU, "d.json")[0] == "onnx-fp32"


def test_swaps_among_tied_scores_rank_alike_and_real_changes_do_not() -> None:
    reference = np.array([5.5, -7.495, -7.496, -7.51, 0.3, -2.0])
    assert ranks_alike(reference, [0, 4, 5])
    assert not ranks_alike(reference, [4, 0, 5])  # another passage first
    assert not ranks_alike(reference, [0, 5, 4])  # second and third swapped, 2.3 apart
    tied = np.array([5.5, -7.495, -7.496, -7.51])
    assert ranks_alike(tied, [0, 2, 1]) and ranks_alike(tied, [0, 3, 1])  # 0.001 and 0.015 apart
    assert not ranks_alike(np.array([5.5, -7.0, -7.5]), [0, 2, 1])  # 0.5 apart is an order


@pytest.mark.slow  # loads the bundled reranker twice (~3 s); the choice rules above use measured fakes
def test_bundled_reranker_in_bf16_ranks_the_calibration_lists_like_fp32() -> None:
    """What ``auto`` checks before choosing torch-bf16, on the shipped model (on CPUs without native bf16
    it is emulated: slow, but the same numbers)."""
    from docqa.pipelines.components.rankers.reranker import DocQAReranker, _pairs

    reranker = DocQAReranker(backend="torch")
    reranker.warm_up()
    loaded = reranker._loaded
    assert loaded is not None
    lists = calibration_lists(lambda q, ps: _pairs(loaded.tokenizer, loaded.fmt, q, ps))[:6]
    bf16 = load_backend(RerankerBackendName.TORCH_BF16, loaded.model_dir, pad_token_id=loaded.fmt.pad_id)
    assert bf16.name == "torch-bf16"
    for pairs in lists:
        reference, scores = loaded.backend.scores(pairs), bf16.scores(pairs)
        ranks = [int(i) for i in np.argsort(-scores, kind="stable")[:3]]
        assert ranks_alike(reference, ranks), (ranks, np.round(reference, 3))
        assert ranks[0] == 0  # each question's own paragraph first, as fp32 puts it
        assert np.abs(scores - reference).max() < 0.25


def test_bf16_is_a_runtime_users_can_name() -> None:
    from docqa.errors import ConfigError
    from docqa.pipelines.components.rankers.reranker import DocQAReranker

    assert DocQAReranker(backend="torch-bf16").backend is RerankerBackendName.TORCH_BF16
    with pytest.raises(ConfigError, match="torch-bf16"):
        DocQAReranker(backend="bf16")
