"""Where the reader's no-answer threshold τ lives between runs.

``docqa eval --calibrate`` measures the τ that maximises F1 for one reader model *and backend* (int8
logits differ slightly from fp32) and writes it to the DocQA config file; ``DocQAReader`` reads it back
when no threshold is given explicitly. The file is JSON, so people can read and edit it::

    {"readers": {"<model path or id>|<backend>": {"no_answer_threshold": 1.3, "calibrated_on": "dev.json",
                                                  "f1": 63.0, "date": "2025-01-01T12:00:00+00:00"}}}

Writes go through :mod:`docqa.atomic` so a crash never leaves a half-written config, and other keys of
the file are preserved.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from docqa import config
from docqa.atomic import atomic_write_text
from docqa.errors import ConfigError

DEFAULT_NO_ANSWER_THRESHOLD = 0.0


class ConfigFileError(ConfigError):
    """The config file exists but cannot be used; the message names the file."""


def config_path() -> Path:
    """``$DOCQA_CONFIG`` or ``~/.config/docqa/config.json``."""
    value = config.env(config.CONFIG_FILE)
    return Path(value).expanduser() if value else Path.home() / ".config" / "docqa" / "config.json"


def reader_key(model: str, backend: str) -> str:
    """Key of one reader in the config: the model as the user named it (path or Hub id) and the backend."""
    return f"{model}|{backend}"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The whole config (``{}`` when the file does not exist).

    :raises ConfigFileError: when the file is not a JSON object.
    """
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        raise ConfigFileError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno}); fix or delete it"
        ) from err
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a JSON object at the top level")
    return data


def save_config(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``data`` atomically: readers see either the old or the new file, never a partial one."""
    path = path or config_path()
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def get_reader_calibration(model: str, backend: str, path: Path | None = None) -> dict[str, Any] | None:
    """The stored calibration record for this model+backend, or ``None``."""
    readers = load_config(path).get("readers", {})
    record = readers.get(reader_key(model, backend)) if isinstance(readers, dict) else None
    return record if isinstance(record, dict) else None


def stored_threshold(model: str, backend: str, path: Path | None = None) -> float | None:
    """τ stored for this model+backend, or ``None`` when never calibrated.

    :raises ConfigFileError: when the stored value is not a number.
    """
    record = get_reader_calibration(model, backend, path)
    if record is None or "no_answer_threshold" not in record:
        return None
    value = record["no_answer_threshold"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigFileError(
            f"{path or config_path()}: readers.{reader_key(model, backend)}.no_answer_threshold "
            f"must be a number, got {value!r}"
        )
    return float(value)


def save_reader_calibration(
    model: str, backend: str, threshold: float, *, calibrated_on: str, f1: float, path: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Store τ for this model+backend (keeping every other entry of the file); returns the file written."""
    data = load_config(path)
    readers = data.setdefault("readers", {})
    if not isinstance(readers, dict):
        raise ConfigFileError(f"{path or config_path()}: 'readers' must be a JSON object")
    record: dict[str, Any] = {
        "no_answer_threshold": float(threshold),
        "calibrated_on": str(calibrated_on),
        "f1": float(f1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    record.update(extra or {})
    readers[reader_key(model, backend)] = record
    return save_config(data, path)


SHIPPED_CALIBRATION_FILE = "calibration.json"


def shipped_threshold(model_dir: Path | None) -> float | None:
    """τ shipped inside a model directory (``calibration.json``, written by ``docqa train-reader`` from its
    dev set), or ``None``. A user's own ``docqa eval --calibrate`` result in the config wins over it.

    :raises ConfigFileError: the file exists but holds no number (names the file).
    """
    if model_dir is None:
        return None
    path = Path(model_dir) / SHIPPED_CALIBRATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ConfigFileError(f"{path}: unreadable ({err}); delete it or retrain the reader") from err
    value = data.get("no_answer_threshold") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigFileError(f"{path}: no_answer_threshold must be a number, got {value!r}")
    return float(value)
