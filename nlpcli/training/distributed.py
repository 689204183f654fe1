"""Data-parallel training on PyTorch's own engine: under ``torchrun`` every
process is one rank of a DistributedDataParallel run (nccl on CUDA, gloo on
the CPU); started plainly, it is the single rank of a world of one."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank: a decision all ranks share."""
        [ranks_flagged] = self.sum([float(flag)])
        return ranks_flagged > 0


def launcher(world: World) -> list[str]:
    """How this process was started, as the first words of a command that repeats
    the run: ``nlpcli``, or torchrun with its process counts."""
    if not world.distributed:
        return ["nlpcli"]
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
    nodes = [f"--nnodes={world.size // per_node}"] if world.size > per_node else []
    return ["torchrun", *nodes, f"--nproc_per_node={per_node}", "-m", "nlpcli"]


def _collective_device() -> str:
    return "cuda" if dist.get_backend() == "nccl" else "cpu"


def join_world(device: str) -> tuple[World, str]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK);
    returns the world and this rank's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return World(rank, size, local_rank), device


def leave_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
