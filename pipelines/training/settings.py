"""The settings and the outcome of one reader training run (``docqa train-reader``).

Why its own module: the training loop, the checkpoints (which must refuse to resume under other
settings) and the written record (``TRAINING.md``, ``training_metrics.json``) all read the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docqa.config import DEFAULT_READER_MODEL
from docqa.errors import InvalidInputError
from docqa.pipelines.components.readers.qa_windows import (
    DEFAULT_MAX_QUESTION_TOKENS,
    DEFAULT_MAX_SEQ_LENGTH,
    DEFAULT_STRIDE,
)
from docqa.pipelines.components.readers.span_decoding import DEFAULT_MAX_ANSWER_LENGTH
from docqa.pipelines.squad import SquadLoadReport

SELECT_METRICS = ("auto", "f1", "forced_has_ans_f1")
# Settings a resumed run must share with the run it continues (others, e.g. progress display, may differ).
_RESUME_KEYS = ("base_model", "epochs", "max_seq_length", "stride", "max_question_tokens", "learning_rate",
                "batch_size", "seed", "warmup_ratio", "weight_decay", "max_grad_norm",
                "answerable_warmup_epochs", "bucket_pool", "select_metric", "max_answer_length")
# Settings recorded in training_metrics.json.
_RECORDED_KEYS = ("epochs", "max_seq_length", "stride", "max_question_tokens", "learning_rate", "batch_size",
                  "seed", "warmup_ratio", "weight_decay", "max_grad_norm", "answerable_warmup_epochs",
                  "bucket_pool", "max_answer_length", "select_metric", "fp16", "bf16",
                  "time_limit_s", "fit_to_time_limit")


class TrainingError(InvalidInputError):
    """A training run cannot start or continue as asked; ``str(err)`` says what to do."""


@dataclass
class TrainingConfig:
    """Everything a training run depends on. Defaults suit continuing a BERT-base SQuAD 2.0 reader.

    ``base_model``: Hub id or directory of an extractive QA model (training continues) or of a plain
    encoder (a QA head is added); ``packaged:all-MiniLM-L6-v2`` is the MiniLM encoder installed with
    DocQA, ``compact`` the bundled compact reader.
    """

    train_file: Path
    out_dir: Path
    dev_file: Path | None = None
    base_model: str = DEFAULT_READER_MODEL
    epochs: int = 2
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
    stride: int = DEFAULT_STRIDE
    max_question_tokens: int = DEFAULT_MAX_QUESTION_TOKENS
    learning_rate: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    seed: int = 42
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    # The first N epochs see only windows that hold an answer: the span head learns first, the null
    # score after (helps a freshly added QA head on small data).
    answerable_warmup_epochs: int = 0
    bucket_pool: int = 50  # batches per shuffled pool inside which windows are sorted by length
    max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH
    select_metric: str = "auto"  # "f1" (null rule, calibrated τ), "forced_has_ans_f1", or auto
    fp16: bool = False  # save the weights in float16 (half the size; the reader computes in float32)
    # Mixed precision on a GPU: matrix products in bfloat16 (autocast), weights and optimizer in float32.
    # Several times faster on tensor-core GPUs; on CPUs without bf16 units it is slower, so off by default.
    bf16: bool = False
    feature_workers: int = 0  # processes that tokenise the training questions; 0 = one per available core
    device: str | None = None  # "cpu" or "cuda"; None = CUDA when present
    # Wall-clock limit (seconds, whole run): training stops at the first epoch end after which another
    # epoch would not fit, or mid-epoch when the limit passes (that epoch is dropped); the best finished
    # epoch is written as usual and TRAINING.md says the run was cut short. None = no limit.
    time_limit_s: float | None = None
    # With a time limit: time the steps and end the LR decay when the time ends (docqa.pipelines.training.
    # time_budget), so the last, possibly partial, epoch is fully annealed and evaluated like the others.
    fit_to_time_limit: bool = False
    checkpoint_every: int = 200  # optimizer steps between checkpoints (also at each epoch end)
    resume: bool = False
    show_progress: bool = True

    def validate(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"--epochs must be at least 1 (got {self.epochs})")
        if not 0 <= self.answerable_warmup_epochs <= self.epochs:
            problems.append("answerable-only warm-up epochs must be between 0 and --epochs")
        if not self.learning_rate > 0:
            problems.append(f"--lr must be positive (got {self.learning_rate})")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            problems.append("--batch-size must be at least 1")
        if not 0 <= self.warmup_ratio < 1:
            problems.append("warmup_ratio must be in [0, 1)")
        if self.select_metric not in SELECT_METRICS:
            problems.append(f"select_metric must be one of {', '.join(SELECT_METRICS)}")
        if self.feature_workers < 0:
            problems.append("feature_workers must be 0 (one per core) or more")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            problems.append("time_limit_s must be positive")
        if self.fit_to_time_limit and self.time_limit_s is None:
            problems.append("fit_to_time_limit needs a time limit (time_limit_s)")
        if self.checkpoint_every < 1:
            problems.append("checkpoint_every must be at least 1")
        if self.device not in (None, "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            problems.append(f"device must be 'cpu' or 'cuda' (got {self.device!r})")
        if problems:
            raise TrainingError("; ".join(problems))

    def resume_key(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _RESUME_KEYS}

    def recorded(self) -> dict[str, Any]:
        """The settings written to ``training_metrics.json``."""
        return {k: getattr(self, k) for k in _RECORDED_KEYS}


@dataclass
class TrainingResult:
    """What a run produced. ``epochs`` holds one record per epoch (loss, dev scores, seconds)."""

    out_dir: Path
    best_epoch: int
    epochs: list[dict[str, Any]]
    no_answer_threshold: float | None
    train_report: SquadLoadReport
    dev_report: SquadLoadReport | None
    seconds: float
    device: str
    resumed_at_step: int | None = None
    stopped_early: str | None = None  # why training ended before its last epoch (time limit), if it did
    feature_stats: dict[str, int] = field(default_factory=dict)

    @property
    def best(self) -> dict[str, Any]:
        return self.epochs[self.best_epoch - 1]
