"""``nlpcli train`` and ``nlpcli plot-training``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nlpcli import console
from nlpcli.cli.options import Device
from nlpcli.cli.root import app, positive
from nlpcli.errors import InputError


def positive_minutes(value: float | None) -> float:
    if value is not None and not value > 0:
        raise InputError(f"--max-time must be a positive number of minutes, got {value}")
    return value or 0.0


@app.command()
def train(
    recipe: Annotated[Path, typer.Argument(help="Recipe file (TOML), e.g. recipes/translate-en-de.toml.")],
    data: Annotated[Path, typer.Option("--data", help="Data folder that the recipe's paths are relative to.")] = Path("../shared/data"),
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default: runs/<recipe name>).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Override train.max_steps.")] = None,
    batch_tokens: Annotated[Optional[int], typer.Option("--batch-tokens", help="Override train.batch_tokens.")] = None,
    d_model: Annotated[Optional[int], typer.Option("--d-model", help="Override model.d_model.")] = None,
    layers: Annotated[Optional[int], typer.Option("--layers", help="Override model.encoder_layers and model.decoder_layers.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Override train.seed.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Any recipe key: section.key=value (repeatable).")] = [],
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last saved state.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run already in --out.")] = False,
    trunk: Annotated[Optional[Path], typer.Option("--trunk", help="Continue this trunk by --steps steps (or start it) and write it back.")] = None,
    from_trunk: Annotated[Optional[Path], typer.Option("--from-trunk", help="Cool a copy of this trunk down into a release (with --cooldown).")] = None,
    cooldown: Annotated[Optional[int], typer.Option("--cooldown", help="Steps of lr cooldown after --from-trunk.")] = None,
    max_time: Annotated[Optional[float], typer.Option("--max-time", help="Stop after this many minutes (at a step's end), as if --steps ended there.")] = None,
    device: Device = "auto",
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads.")] = None,
) -> None:
    """Train the tokenizer and the model from a recipe; writes RUN/checkpoint.
    Under torchrun (torchrun --nproc_per_node=N -m nlpcli train ...) it trains data-parallel.
    With --trunk DIR --steps N it continues the kept training state in DIR by N steps;
    with --from-trunk DIR --cooldown M it makes a release from it."""
    from nlpcli.runtime import select_device, set_threads
    from nlpcli.training.distributed import join_world, leave_world
    from nlpcli.training.recipe import load_recipe
    from nlpcli.training.trainer import Trainer

    if trunk and from_trunk:
        raise InputError("--trunk continues a trunk and --from-trunk cools one down: give one of them")
    if trunk and not steps:
        raise InputError("--trunk needs --steps N: the number of steps to add to the trunk")
    if from_trunk and not cooldown:
        raise InputError("--from-trunk needs --cooldown M: the number of cooldown steps")
    if cooldown is not None and (not from_trunk or cooldown < 1):
        raise InputError("--cooldown takes a positive number of steps and needs --from-trunk")
    add_steps = positive("--steps", steps) if trunk else 0
    overrides = list(set_)
    named = {"train.max_steps": None if trunk else steps, "train.batch_tokens": batch_tokens, "model.d_model": d_model,
             "model.encoder_layers": layers, "model.decoder_layers": layers, "train.seed": seed}
    overrides += [f"{key}={value}" for key, value in named.items() if value is not None]
    loaded_recipe = load_recipe(recipe, overrides)
    if not Path(data).is_dir():
        raise InputError(f"data folder not found: {data}")
    set_threads(threads)
    world, device = join_world(select_device(device))
    try:
        trainer = Trainer(loaded_recipe, data, out or Path("runs") / loaded_recipe.name,
                          device=device, resume=resume, overwrite=overwrite, world=world,
                          trunk=trunk or from_trunk, add_steps=add_steps, cooldown=cooldown or 0,
                          time_limit=60 * positive_minutes(max_time))
        checkpoint = trainer.train()
    finally:
        leave_world(world)
    if world.is_main:
        console.info(f"best checkpoint: {checkpoint}")


@app.command("plot-training")
def plot_training(
    run_dir: Annotated[Path, typer.Argument(help="A run folder of nlpcli train.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Image to write (.png, .svg, .pdf).")] = Path("curves.png"),
) -> None:
    """Draw a run's training loss per task and dev scores against steps (needs nlpcli[plot])."""
    from nlpcli.plot import plot_training as draw_curves

    console.info(f"wrote {draw_curves(run_dir, output)}")
