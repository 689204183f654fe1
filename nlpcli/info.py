"""``nlpcli info``: what a checkpoint is, serves, and scored."""
from __future__ import annotations

import math
from pathlib import Path

from nlpcli.checkpoint import SHORTLIST_FILE, WEIGHTS_FILE, CheckpointInfo, read_config
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


def shortlist_shape(folder: Path) -> dict | None:
    """The vocabulary shortlist's sizes, read off its header (nlpcli/shortlist.py), or None."""
    from safetensors import SafetensorError, safe_open

    path = Path(folder) / SHORTLIST_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="numpy") as tensors:
            return {"frequent": tensors.get_slice("frequent").get_shape()[0],
                    "per_source": tensors.get_slice("candidates").get_shape()[1]}
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is unreadable ({error})") from None


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
        "shortlist": shortlist_shape(folder),
    }


SCORE_LABELS = {"bleu": "BLEU", "chrf": "chrF", "ter": "TER", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L",
                "accuracy": "accuracy", "macro_f1": "macro-F1", "exact_match": "EM", "precision": "P", "recall": "R", "f1": "F1"}


def render_info(details: dict) -> str:
    """``describe``'s details as ``nlpcli info`` prints them, a fact a line."""
    model, training = details["model"], details["training"]
    lines = [
        f"checkpoint   {details['path']}",
        f"parameters   {details['parameters']:,} ({details['size_bytes'] / 2**20:.1f} MiB on disk, {details['dtype']})",
        f"model        d_model {model['d_model']}, {model['n_heads']} heads, ffn {model['ffn_dim']}, "
        f"{model['encoder_layers']}+{model['decoder_layers']} layers, vocabulary {model['vocab_size']}",
    ]
    for task, spec in details["tasks"].items():
        what = spec.get("directions") or spec.get("labels") or [t[2:] for t in spec.get("tags", []) if t.startswith("B-")]
        if spec.get("style") == "m2m100":
            what = [f"any pair of {len(spec['languages'])} languages (M2M100 style, give --src)"]
        window = f" (window {spec['window']} tokens)" if "window" in spec else ""
        compute_dtype = CheckpointInfo(tasks=details["tasks"]).compute_dtype(task)
        runs_in = f", runs in {compute_dtype} where the hardware has it" if compute_dtype != "float32" else ""
        lines.append(f"task         {task}: {', '.join(what) if what else 'yes'}{window}{runs_in}")
    if details.get("shortlist"):
        shortlist = details["shortlist"]
        lines.append(f"shortlist    translation scores {shortlist['frequent']:,} frequent pieces and up to "
                     f"{shortlist['per_source']} per source piece, not all {model['vocab_size']:,} (--no-shortlist: all)")
    if "imported_from" in training:
        lines.append(f"imported     from {training['imported_from']} ({training.get('format')})")
    elif training:
        # a trunk's train_seconds run on over every machine it continued on: name the last run that trained
        # (an average of checkpoints, recipes/average.py, trains nothing; its weights line says what it is)
        last = next((record for record in reversed(training.get("history") or []) if "seconds" in record), {})
        if last:
            spent = f"; the last run, a {last.get('kind', 'run')} of {last['steps']:,} steps, {last['seconds']:,} s"
        else:
            spent = f", {training.get('train_seconds', 0) / 3600:.1f} h"
        lines.append(f"training     recipe {training.get('recipe')}, {training.get('steps', 0):,} steps{spent} on {training.get('device')}")
        if training.get("weights"):
            lines.append(f"  weights    {training['weights']}")
        if training.get("init_from"):
            lines.append(f"  from       {training['init_from']}")
        if "totals" in training:
            totals = training["totals"]
            hours = ", ".join(f"{h:.2f} h on {kind}" for kind, h in totals["device_hours"].items())
            tokens = ", ".join(f"{task} {n / 1e6:.1f} M" for task, n in totals["source_tokens"].items())
            lines.append(f"  in all     {totals['steps']:,} steps in {len(training['history'])} runs, {hours} "
                         f"(device-hours: seconds x cores); source tokens {tokens}")
        for data in training.get("data", []):
            lines.append(f"  data       {data['name']} ({data.get('task', 'translate')}: {data['path']}, weight {data['weight']})")
    for name, score in details["evaluation"].items():
        figures = "  ".join(f"{label} {score[key]}" for key, label in SCORE_LABELS.items() if key in score)
        size = next((f"{score[key]} {key}" for key in ("sentences", "documents", "examples", "questions") if key in score), "")
        beam = f"beam {score['beam']}, " if "beam" in score else ""
        lines.append(f"dev score    {name:<22} {figures}" + (f"  ({beam}{size})" if beam or size else ""))
    return "\n".join(lines)
