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
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    if threads:
        import torch

        torch.set_num_threads(threads)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16, AMX) as
    oneDNN sees it. Without that, torch emulates bfloat16, far slower than float32
    (README, "Training that adds up": an AVX2-only machine)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def hardware_has_bf16(device: str) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively."""
    import torch

    return torch.cuda.is_bf16_supported() if device.startswith("cuda") else cpu_has_bf16()


def runs_in_bf16(asked: bool | None, compute_dtype: str, device: str, int8: bool = False) -> bool:
    """Whether a model runs in bfloat16: as asked (--bf16 / --fp32), else as its checkpoint
    says for the task (compute_dtype "bfloat16": its scores were measured so) where the
    hardware has bfloat16 instructions; never by default where bfloat16 would be emulated,
    slower than float32, nor beside --int8."""
    if asked is not None:
        return asked
    return compute_dtype == "bfloat16" and not int8 and hardware_has_bf16(device)


def to_bfloat16(model):
    """bfloat16 weights and activations: faster on CPUs with bfloat16 matrix
    instructions (AVX512-BF16, AMX) and on GPUs; outputs may differ slightly from
    float32 (the scores, probabilities and CRF are still computed in float32)."""
    import torch

    return model.to(torch.bfloat16)


def quantize_int8(model, device: str):
    """Dynamic int8 quantization of every nn.Linear (weights int8, activations
    quantized on the fly) for faster CPU inference; the tied embedding and
    output projection stay in float."""
    import warnings

    import torch

    if device != "cpu":
        raise InputError(f"--int8 runs on the CPU only (got --device {device})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks the quantized tensor API deprecated; it still works
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
