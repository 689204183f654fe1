"""The trunk: training state that later runs continue, kept compact in the repository.

Training follows a warmup-stable-decay schedule. The state at the end of the
constant-lr phase is the trunk; ``nlpcli train --trunk DIR --steps N`` continues it
by N steps (on any machine) and writes it back, and ``--from-trunk DIR --cooldown M``
cools a copy of it down into a release checkpoint. A trunk folder holds:

  recipe.json            the recipe it was started with (shape, data, shares)
  tokenizer.model        its SentencePiece model
  model.safetensors      the weights
  optimizer.safetensors  AdamW's moments (``exp_avg.NAME``, ``exp_avg_sq.NAME``),
                         when the trunk fits ``train.trunk_max_mib`` with them
  state.json             step, data positions, tokens seen, RNG and the history of
                         every continuation (command, steps, seconds, hardware,
                         and the dev scores at its end)
  README.md              that history as a table, with its totals

Precision ``compact`` stores float16 weights and bfloat16 moments (bfloat16 keeps
the second moment's range). A continuation of a compact trunk therefore starts
from rounded weights; one of a trunk without moments re-estimates them with
fresh zeros under a short linear re-warmup of the lr (``train.rewarmup_steps``).
Precision ``exact`` stores float32, and continuing such a trunk by N steps gives
exactly what one uninterrupted run gives.
"""
from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nlpcli.checkpoint import TIED_WEIGHTS, write_atomically
from nlpcli.errors import RecipeError

STATE_FILE, WEIGHTS_FILE, MOMENTS_FILE = "state.json", "model.safetensors", "optimizer.safetensors"
PRECISIONS = {"compact": (torch.float16, torch.bfloat16), "exact": (torch.float32, torch.float32)}  # weights, moments


@dataclass
class TrunkState:
    """What a trainer needs beside the tensors to continue exactly where the trunk stopped."""

    step: int = 0
    positions: dict = field(default_factory=dict)  # task -> [epoch, batch in epoch]
    tokens_seen: dict = field(default_factory=dict)  # task -> source tokens, over every continuation
    elapsed: float = 0.0  # seconds of training steps, over every continuation
    adam_steps: dict = field(default_factory=dict)  # parameter name -> AdamW's step count
    torch_rng: str = ""  # base64 of torch.get_rng_state()
    history: list = field(default_factory=list)  # one record per continuation


def exists(folder: Path) -> bool:
    return (Path(folder) / STATE_FILE).is_file()


def read_state(folder: Path) -> TrunkState:
    path = Path(folder) / STATE_FILE
    try:
        return TrunkState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as error:
        raise RecipeError(f"{path}: not a trunk state file ({error})") from None


def moments_fit(model: torch.nn.Module, precision: str, max_mib: float) -> bool:
    """Whether weights + both AdamW moments stay within ``max_mib`` at this precision."""
    weights_dtype, moments_dtype = PRECISIONS[precision]
    count = sum(p.numel() for p in model.parameters())  # tied weights counted once
    size = count * (weights_dtype.itemsize + 2 * moments_dtype.itemsize)
    return size <= max_mib * 2**20


def save(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrunkState,
         recipe: dict, tokenizer_file: Path, precision: str, max_mib: float) -> bool:
    """Write the trunk atomically; returns whether the moments were kept."""
    from safetensors.torch import save_file

    weights_dtype, moments_dtype = PRECISIONS[precision]
    names = {id(p): name for name, p in model.named_parameters()}
    weights = {name: t.detach().to("cpu", weights_dtype).contiguous()
               for name, t in model.state_dict().items() if name not in TIED_WEIGHTS}
    keep_moments = moments_fit(model, precision, max_mib)
    moments, adam_steps = {}, {}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            slot = optimizer.state.get(parameter)
            if not slot:
                continue
            name = names[id(parameter)]
            adam_steps[name] = int(slot["step"])
            if keep_moments:
                for key in ("exp_avg", "exp_avg_sq"):
                    moments[f"{key}.{name}"] = slot[key].detach().to("cpu", moments_dtype).contiguous()
    state.adam_steps = adam_steps if keep_moments else {}
    state.torch_rng = base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")

    def write_files(staging: Path) -> None:
        save_file(weights, str(staging / WEIGHTS_FILE), metadata={"precision": precision})
        if keep_moments:
            save_file(moments, str(staging / MOMENTS_FILE))
        (staging / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
        (staging / "tokenizer.model").write_bytes(Path(tokenizer_file).read_bytes())
        write_state_and_card(staging, state, recipe, keep_moments, precision)

    write_atomically(Path(folder), write_files)
    return keep_moments


def drop_moments(folder: Path) -> None:
    """Rewrite a trunk as weights only, as ``save`` does over ``train.trunk_max_mib``:
    a run that kept the moments for a next stage on the same machine (a cooldown)
    leaves the trunk it sends on compact this way."""
    from safetensors import safe_open

    folder = Path(folder)
    state = read_state(folder)
    state.adam_steps = {}
    recipe = json.loads((folder / "recipe.json").read_text(encoding="utf-8"))
    with safe_open(str(folder / WEIGHTS_FILE), "pt") as weights:
        precision = weights.metadata()["precision"]

    def write_files(staging: Path) -> None:
        for name in (WEIGHTS_FILE, "recipe.json", "tokenizer.model"):
            shutil.copyfile(folder / name, staging / name)
        write_state_and_card(staging, state, recipe, False, precision)

    write_atomically(folder, write_files)


def write_state_and_card(staging: Path, state: TrunkState, recipe: dict, has_moments: bool, precision: str) -> None:
    (staging / STATE_FILE).write_text(json.dumps(state.__dict__, indent=1) + "\n", encoding="utf-8")
    (staging / "README.md").write_text(card(state, recipe, has_moments, precision), encoding="utf-8")


def restore(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device) -> tuple[TrunkState, bool]:
    """Load the trunk's weights (and moments, if kept) into ``model`` and ``optimizer``.

    Parameters the trunk lacks (a feature added since) keep their fresh
    initialisation and start with empty moments. Returns the state and whether
    the moments were restored."""
    from safetensors.torch import load_file

    folder = Path(folder)
    state = read_state(folder)
    weights = load_file(str(folder / WEIGHTS_FILE))
    own = model.state_dict()
    for name, tensor in weights.items():
        if name not in own:
            raise RecipeError(f"{folder / WEIGHTS_FILE}: weight {name} is not in the recipe's model")
        if own[name].shape != tensor.shape:
            raise RecipeError(f"{folder / WEIGHTS_FILE}: {name} has shape {tuple(tensor.shape)}, "
                              f"the recipe's model {tuple(own[name].shape)}")
    with torch.no_grad():
        for name, tensor in weights.items():
            own[name].copy_(tensor)
    has_moments = (folder / MOMENTS_FILE).is_file()
    if has_moments:
        moments = load_file(str(folder / MOMENTS_FILE))
        for name, parameter in model.named_parameters():
            if name in state.adam_steps and parameter.requires_grad:
                optimizer.state[parameter] = {
                    "step": torch.tensor(float(state.adam_steps[name])),
                    "exp_avg": moments[f"exp_avg.{name}"].to(device, parameter.dtype),
                    "exp_avg_sq": moments[f"exp_avg_sq.{name}"].to(device, parameter.dtype),
                }
    if state.torch_rng:
        rng = torch.frombuffer(bytearray(base64.b64decode(state.torch_rng)), dtype=torch.uint8)
        torch.set_rng_state(rng)
    return state, has_moments


def card(state: TrunkState, recipe: dict, has_moments: bool, precision: str) -> str:
    """The trunk's README: what it is and every continuation that made it."""
    model = recipe["model"]
    total = totals(state.history)
    lines = [
        f"# Trunk of {recipe['name']}",
        "",
        "Training state that later runs continue (written by `nlpcli train --trunk`; see the README's",
        "\"Training that adds up\"). Not a checkpoint: make a release with `--from-trunk DIR --cooldown M`.",
        "",
        f"- step {state.step:,}; {model['encoder_layers']}+{model['decoder_layers']} layers, d_model {model['d_model']}, "
        f"vocabulary {model['vocab_size']:,}",
        f"- {precision} precision; AdamW moments " + ("kept" if has_moments else
                                                      "not kept (over the size limit): a continuation re-warms the lr"),
        f"- in all: {total['steps']:,} steps, " + ", ".join(f"{h:.2f} device-hours on {k}" for k, h in total["device_hours"].items())
        + "; source tokens " + ", ".join(f"{t} {n / 1e6:.2f} M" for t, n in total["source_tokens"].items()),
        "",
        "| # | date | steps | seconds | device-hours | hardware | source tokens (M) | mean dev loss at the end | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for number, record in enumerate(state.history, start=1):
        tokens = ", ".join(f"{t} {n / 1e6:.2f}" for t, n in record["tokens"].items())
        dev = ", ".join(f"{which} {loss:.3f}" for which, loss in record.get("dev_mean_loss_at_end", {}).items()) or "–"
        lines.append(f"| {number} | {record['date']} | {record['from_step']:,}–{record['to_step']:,} | {record['seconds']:,} | "
                     f"{record['device_hours']:.3f} | {record['hardware']} | {tokens} | {dev} | `{record['command']}` |")
    return "\n".join(lines) + "\n"


def totals(history: list[dict]) -> dict:
    """Steps, device-hours and source tokens per task, added up over a history."""
    tokens: dict[str, int] = {}
    for record in history:
        for task, count in record.get("tokens", {}).items():
            tokens[task] = tokens.get(task, 0) + count
    hours: dict[str, float] = {}
    for record in history:
        kind = record.get("hardware_kind", "cpu")
        hours[kind] = hours.get(kind, 0.0) + record.get("device_hours", 0.0)
    return {"steps": sum(r.get("steps", 0) for r in history), "device_hours": {k: round(v, 4) for k, v in hours.items()},
            "source_tokens": tokens}
