"""``nlpcli info``: what a checkpoint is, serves, and scored."""
from __future__ import annotations

import math
from pathlib import Path

from nlpcli.checkpoint import WEIGHTS_FILE, read_config
from nlpcli.errors import CheckpointError


def stored_parameters(weights_file: Path) -> int:
    """Parameters as the weights file's header lists them (tied weights stored once):
    what the model holds, read without loading a tensor and without a formula that
    could drift from nlpcli/model.py."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights_file), framework="numpy") as weights:
            return sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{weights_file} is unreadable or truncated ({error})") from None


def describe(folder: Path) -> dict:
    """Read config.json and the weights file's header only (no weights are loaded), plus file sizes."""
    config = read_config(folder)
    model = config["model"]
    parameters = stored_parameters(Path(folder) / WEIGHTS_FILE)
    return {
        "path": str(folder),
        "parameters": parameters,
        "size_bytes": sum(f.stat().st_size for f in Path(folder).iterdir() if f.is_file()),
        "dtype": config.get("dtype"),
        "model": model,
        "tasks": config.get("tasks", {}),
        "training": config.get("training", {}),
        "evaluation": config.get("evaluation", {}),
    }
