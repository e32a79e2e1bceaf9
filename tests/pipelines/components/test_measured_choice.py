"""Timing the candidates of ``auto``: clearly slower runtimes stop early, close ones run every round.
A scripted clock stands in for the real one: these tests time nothing."""

from __future__ import annotations

import pytest

from docqa.pipelines.components.measured_choice import timed_rounds


class ScriptedClock:
    """``run(name)`` advances the clock by that candidate's next scripted duration."""

    def __init__(self, durations: dict[str, list[float]]) -> None:
        self.durations = {name: list(times) for name, times in durations.items()}
        self.now = 0.0
        self.runs: list[str] = []

    def __call__(self) -> float:
        return self.now

    def run(self, name: str) -> None:
        self.runs.append(name)
        self.now += self.durations[name].pop(0)


def test_a_candidate_far_slower_after_two_rounds_runs_no_more_and_keeps_its_best():
    clock = ScriptedClock({
        "torch": [1.7, 1.6, 1.6, 1.6, 1.6],
        "onnx": [0.72, 0.70, 0.5, 0.5, 0.5],
        "onnx-int8": [0.40, 0.38, 0.37, 0.36, 0.39],
    })
    best = timed_rounds(["torch", "onnx", "onnx-int8"], clock.run, rounds=5, clock=clock)
    assert clock.runs.count("torch") == 2 and clock.runs.count("onnx") == 2
    assert clock.runs.count("onnx-int8") == 5
    assert best == pytest.approx({"torch": 1.6, "onnx": 0.70, "onnx-int8": 0.36})


def test_close_candidates_run_every_round_so_a_burst_of_load_does_not_decide():
    # int8 was hit by a burst in its first two rounds but is within 1.5x of fp32, so it keeps running and
    # the later rounds decide: int8 is the faster after all (and fp32, now twice as slow, stops).
    clock = ScriptedClock({"onnx": [0.70, 0.70, 0.70, 0.70, 0.70], "onnx-int8": [0.9, 0.8, 0.37, 0.37, 0.37]})
    best = timed_rounds(["onnx", "onnx-int8"], clock.run, rounds=5, clock=clock)
    assert clock.runs.count("onnx-int8") == 5 and clock.runs.count("onnx") == 3
    assert min(best, key=best.__getitem__) == "onnx-int8"
