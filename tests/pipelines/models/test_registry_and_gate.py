"""The model registry (promote, roll back, prune, crash leftovers) and the promotion gate's rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from docqa.errors import InvalidInputError
from docqa.pipelines.models.gate import GateSettings, QuestionScores, bootstrap, decide
from docqa.pipelines.models.registry import ModelNotFoundError, ModelRegistry


def fake_model(path: Path, marker: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"marker": marker}), encoding="utf-8")
    return path


def test_promotions_are_numbered_active_and_can_be_rolled_back_and_pruned(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "index")
    assert registry.entries() == [] and registry.active_number() == 0 and registry.active_entry() is None
    for i in (1, 2, 3):
        entry = registry.add(fake_model(tmp_path / f"cand{i}", f"m{i}"), {"parent": f"models/{i - 1}"})
        assert entry.number == i and entry.name == f"models/{i}"
    assert registry.active_number() == 3
    assert json.loads((registry.entry(2).path / "config.json").read_text())["marker"] == "m2"
    assert registry.entry(2).card["parent"] == "models/1" and registry.entry(2).card["created"]

    before = registry.stamp()
    registry.use(1)
    assert registry.active_number() == 1 and registry.stamp() != before
    assert [h["active"] for h in registry.history()] == [1, 2, 3, 1]
    with pytest.raises(ModelNotFoundError, match="no model 9"):
        registry.use(9)
    assert registry.active_number() == 1

    assert registry.prune(keep=1) == [2]  # the newest (3) and the active one (1) stay
    assert [e.number for e in registry.entries()] == [1, 3]
    registry.use(0)
    assert registry.active_entry() is None
    assert registry.prune(keep=0) == [1, 3]
    with pytest.raises(InvalidInputError):
        registry.prune(keep=-1)


def test_a_crash_mid_promotion_leaves_the_active_model_answering(tmp_path: Path) -> None:
    """A copy killed before its rename leaves a hidden .incoming directory: never listed, never active;
    a model whose directory vanished falls back to the configured reader instead of failing."""
    registry = ModelRegistry(tmp_path / "index")
    registry.add(fake_model(tmp_path / "cand", "m1"), {})
    half = fake_model(registry.path / ".incoming-deadbeef", "half")
    (half / "card.json").write_text("{}", encoding="utf-8")
    assert [e.number for e in registry.entries()] == [1] and registry.active_number() == 1
    assert registry.add(fake_model(tmp_path / "cand2", "m2"), {}).number == 2
    (registry.entry(2).path / "card.json").unlink()
    assert registry.active_number() == 0
    with pytest.raises(InvalidInputError, match="not a reader directory"):
        registry.add(tmp_path / "nothing-here", {})


def scores(heldout: list[float], answerable: list[bool], regression: list[float]) -> QuestionScores:
    return QuestionScores(heldout=heldout, answerable=answerable, regression=regression)


def test_the_gate_promotes_a_better_reader_and_refuses_the_measured_failures() -> None:
    settings = GateSettings()
    answerable = [True] * 20 + [False] * 20
    current = scores([60.0] * 20 + [50.0] * 20, answerable, [70.0] * 40)

    better = scores([70.0] * 20 + [60.0] * 20, answerable, [70.0] * 40)
    decision = decide(current, better, settings)
    assert decision.promote and decision.reason.startswith("promoted: held-out F1 +10.0")

    # The N = 100 failure: "no answer" to everything lifts F1 on a set rich in unanswerable questions.
    silent = scores([30.0] * 20 + [100.0] * 20, answerable, [70.0] * 40)
    decision = decide(current, silent, settings)
    assert not decision.promote and "HasAns F1 fell by 30.0" in decision.reason

    forgetful = scores([70.0] * 20 + [60.0] * 20, answerable, [60.0] * 40)
    decision = decide(current, forgetful, settings)
    assert not decision.promote and "regression F1 fell by 10.0" in decision.reason

    same = decide(current, current, settings)
    assert not same.promote and "less than the +1.0 margin" in same.reason
    assert decide(current, current, GateSettings(margin=-1.0)).promote


def test_bootstrap_intervals_bracket_the_mean_and_narrow_with_more_questions() -> None:
    rng = np.random.default_rng(0)
    small = bootstrap(rng.uniform(0, 100, 15), 1000, np.random.default_rng(1))
    large = bootstrap(rng.uniform(0, 100, 600), 1000, np.random.default_rng(1))
    assert small.low <= small.mean <= small.high and large.low <= large.mean <= large.high
    assert (large.high - large.low) < (small.high - small.low) / 3
    assert bootstrap(np.array([]), 1000, np.random.default_rng(1)).n == 0
