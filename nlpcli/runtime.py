"""Device and thread selection shared by every command."""
from __future__ import annotations

from nlpcli.errors import InputError


def select_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is available to this PyTorch build (use --device cpu)")
    if name != "cpu" and not name.startswith("cuda"):
        raise InputError(f"--device {name}: expected auto, cpu or cuda[:N]")
    return name


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
