"""Checkpoint folders: config.json + model.safetensors + tokenizer.model + README.md.

Weights are read with safetensors only (no pickle). Loading checks every part
and refuses a missing, truncated or mismatched file with a one-line error.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nlpcli.errors import CheckpointError

FORMAT_NAME = "nlpcli-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, CARD_FILE = "config.json", "model.safetensors", "tokenizer.model", "README.md"
SHORTLIST_FILE = "shortlist.safetensors"  # optional: translation's vocabulary shortlist (nlpcli/shortlist.py)
COMPUTE_DTYPES = ("float32", "bfloat16")
TIED_WEIGHTS = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")

# A wheel carries the default checkpoint inside the package (setup.py copies it there);
# a clone, or an editable install of one, has it at the top of the repository.
_PACKAGE = Path(__file__).resolve().parent
# Release 1 (nlpcli-base) stays in the repository's checkpoints/ and keeps loading; release 2 is the default.
SHIPPED_NAME = "nlpcli-2"
SHIPPED_LOCATIONS = (_PACKAGE / "checkpoints" / SHIPPED_NAME, _PACKAGE.parent / "checkpoints" / SHIPPED_NAME)
DEFAULT_CHECKPOINT = next((folder for folder in SHIPPED_LOCATIONS if folder.is_dir()), SHIPPED_LOCATIONS[0])


@dataclass
class CheckpointInfo:
    """What config.json says beside the model settings."""

    tasks: dict = field(default_factory=dict)  # e.g. {"translate": {"directions": ["en-de", "de-en"]}}
    training: dict = field(default_factory=dict)  # recipe name, steps, data sets, time, scores
    dtype: str = "float16"  # how the weights are stored

    def compute_dtype(self, task: str) -> str:
        """What the model runs ``task`` in by default where the hardware multiplies it natively
        (runtime.runs_in_bf16): "bfloat16" only where the task's scores were measured in it
        (recipes/evaluate.py --bf16 --record), else "float32"."""
        return self.tasks.get(task, {}).get("compute_dtype", "float32")


def default_checkpoint_path() -> Path:
    return Path(os.environ.get("NLPCLI_CHECKPOINT", DEFAULT_CHECKPOINT))


def write_atomically(folder: Path, write_files) -> None:
    """Write a folder's files into a temporary sibling, then swap it into place,
    so a crash never leaves a half-written checkpoint."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write_files(staging)
        _use_default_permissions(staging)
        if folder.exists():
            retired = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(folder, retired)
            os.replace(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _use_default_permissions(folder: Path) -> None:
    """mkdtemp (and safetensors) create owner-only files; a checkpoint should be
    readable like any file the user writes."""
    os.chmod(folder, 0o777 & ~_umask())
    for file in folder.iterdir():
        use_default_file_permissions(file)


def use_default_file_permissions(path: Path) -> None:
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def save_checkpoint(folder, model, tokenizer, info: CheckpointInfo, model_card: str | None = None) -> None:
    import torch
    from safetensors.torch import save_file

    dtype = getattr(torch, info.dtype)
    tensors = {
        name: tensor.detach().to("cpu", dtype).contiguous()
        for name, tensor in model.state_dict().items()
        if name not in TIED_WEIGHTS
    }
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "tasks": info.tasks,
        "training": info.training,
        "dtype": info.dtype,
    }

    def write_files(staging: Path) -> None:
        save_file(tensors, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        tokenizer.save(staging / TOKENIZER_FILE)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        (staging / CARD_FILE).write_text(model_card or default_model_card(config))

    write_atomically(Path(folder), write_files)


def default_model_card(config: dict) -> str:
    tasks = ", ".join(config["tasks"]) or "none"
    return f"# nlpcli checkpoint\n\nTasks: {tasks}\n\nModel: `{json.dumps(config['model'])}`\n"


# the model settings a checkpoint must state (the others have safe defaults)
REQUIRED_MODEL_KEYS = ("vocab_size", "d_model", "n_heads", "ffn_dim", "encoder_layers", "decoder_layers")


def read_config(folder: Path) -> dict:
    folder = Path(folder)
    if folder.is_file():
        raise CheckpointError(f"checkpoint {folder} is a file; give the folder that holds {CONFIG_FILE}, "
                              f"{WEIGHTS_FILE} and {TOKENIZER_FILE}")
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {folder}")
    if not (folder / CONFIG_FILE).is_file():
        raise CheckpointError(f"checkpoint {folder} is missing {CONFIG_FILE}")
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{folder / CONFIG_FILE} is not valid JSON: {error}") from None
    if isinstance(config, dict) and "format" not in config and ("model_type" in config or "architectures" in config):
        raise CheckpointError(f"{folder} is a Hugging Face model folder, not an nlpcli checkpoint; "
                              f"import it first: nlpcli convert --from hf {folder} OUT_FOLDER")
    for name in (WEIGHTS_FILE, TOKENIZER_FILE):
        if not (folder / name).is_file():
            raise CheckpointError(f"checkpoint {folder} is missing {name}")
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{folder / CONFIG_FILE} is not an nlpcli checkpoint config")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{folder / CONFIG_FILE} has format_version {config.get('format_version')!r}; "
            f"this nlpcli reads version {FORMAT_VERSION}"
        )
    return config


@dataclass
class LoadedCheckpoint:
    path: Path
    model: object  # Seq2SeqTransformer
    tokenizer: object  # Tokenizer
    info: CheckpointInfo


def load_checkpoint(folder=None, device: str = "cpu") -> LoadedCheckpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from nlpcli.model import ModelConfig, Seq2SeqTransformer
    from nlpcli.tokenizer import Tokenizer

    folder = Path(folder) if folder else default_checkpoint_path()
    config = read_config(folder)
    settings = config.get("model")
    if not isinstance(settings, dict):
        raise CheckpointError(f"{folder / CONFIG_FILE} has no \"model\" settings")
    missing_keys = [key for key in REQUIRED_MODEL_KEYS if key not in settings]
    if missing_keys:
        raise CheckpointError(f"{folder / CONFIG_FILE}: the model settings lack {', '.join(missing_keys)}")
    try:
        model_config = ModelConfig.from_dict(settings)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{folder / CONFIG_FILE}: bad model settings: {error}") from None
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{folder / WEIGHTS_FILE} is unreadable or truncated: {error}") from None
    try:
        tokenizer = Tokenizer.load(folder / TOKENIZER_FILE)
    except (OSError, RuntimeError) as error:
        raise CheckpointError(f"{folder / TOKENIZER_FILE} is not a SentencePiece model: {error}") from None
    if len(tokenizer) != model_config.vocab_size:
        raise CheckpointError(
            f"{folder}: tokenizer has {len(tokenizer)} pieces but the model expects vocab_size={model_config.vocab_size}"
        )

    try:
        model = Seq2SeqTransformer(model_config)
    except (TypeError, ValueError, RuntimeError, AssertionError) as error:  # e.g. a size that is not a number
        raise CheckpointError(f"{folder / CONFIG_FILE}: bad model settings: {error}") from None
    expected = {k: v.shape for k, v in model.state_dict().items() if k not in TIED_WEIGHTS}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{folder / WEIGHTS_FILE} does not match config.json: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, shape in expected.items():
        if tensors[name].shape != shape:
            raise CheckpointError(
                f"{folder / WEIGHTS_FILE}: {name} has shape {tuple(tensors[name].shape)}, config.json implies {tuple(shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    model.to(device).eval()
    info = CheckpointInfo(tasks=config.get("tasks", {}), training=config.get("training", {}), dtype=config.get("dtype", "float16"))
    for task in info.tasks:
        if info.compute_dtype(task) not in COMPUTE_DTYPES:
            raise CheckpointError(f"{folder / CONFIG_FILE}: {task}'s compute_dtype {info.compute_dtype(task)!r} "
                                  f"is not one of {', '.join(COMPUTE_DTYPES)}")
    return LoadedCheckpoint(path=folder, model=model, tokenizer=tokenizer, info=info)
