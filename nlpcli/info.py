"""``nlpcli info``: what a checkpoint is, serves, and scored."""
from __future__ import annotations

from pathlib import Path

from nlpcli.checkpoint import read_config


def describe(folder: Path) -> dict:
    """Read config.json only (no weights are loaded), plus file sizes."""
    config = read_config(folder)
    model = config["model"]
    d, ffn, vocab = model["d_model"], model["ffn_dim"], model["vocab_size"]
    attention = 4 * (d * d + d)
    encoder_layer = attention + 2 * ffn * d + ffn + d + 4 * d
    decoder_layer = 2 * attention + 2 * ffn * d + ffn + d + 6 * d
    parameters = vocab * d + model["encoder_layers"] * encoder_layer + model["decoder_layers"] * decoder_layer + 4 * d
    # the task output layers on the encoder: pooling + classifier, tagger, span pointer
    labels, tags = model.get("sentiment_labels", 0), model.get("entity_tags", 0)
    parameters += (d + 1 + labels * (d + 1) if labels else 0) + tags * (d + 1) + (2 * (d + 1) if model.get("answer_spans") else 0)
    parameters += tags * tags if model.get("entity_crf") else 0  # the CRF's tag-pair scores
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
