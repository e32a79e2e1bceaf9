"""Readers a collection has promoted (the registry), the improve loop that makes them and its gate."""

from docqa.pipelines.models.gate import DEFAULT_MARGIN, DEFAULT_TOLERANCE, GateSettings
from docqa.pipelines.models.improve import ImproveResult, ImproveSettings
from docqa.pipelines.models.jobs import ImproveBusyError, JobNotFoundError
from docqa.pipelines.models.registry import ModelEntry, ModelNotFoundError

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_TOLERANCE",
    "GateSettings",
    "ImproveBusyError",
    "ImproveResult",
    "ImproveSettings",
    "JobNotFoundError",
    "ModelEntry",
    "ModelNotFoundError",
]
