"""``nlpcli train``: tokenizer, data, the training loop, validation and checkpoints.

A run folder holds everything of one run:
  recipe.json        the resolved recipe (overrides applied)
  tokenizer.model    SentencePiece model (trained on the training text, or the
                     ``init_from`` checkpoint's with the task tokens added)
  state/             weights + optimizer, RNG and data position (for --resume)
  checkpoint/        the best model so far, as a shippable checkpoint folder (with
                     ``train.average_decay``, the best of the last step's weights
                     and their moving average, nlpcli/training/averaging.py)
  metrics.jsonl      one line per log/validation event
  dev/               each translation dev set's sources and references as plain text

Several tasks train one model: every step draws one task (with the recipe's
[mix] shares, from a generator seeded by the step, so a resumed run draws the
same tasks) and takes the next batch of that task's own stream of epochs. With
[span_infilling], a share of a task's steps trains the decoder to restore
hidden spans of that batch's texts instead of the task's own objective.

A run can also continue a trunk (``trunk``: the kept state of a warmup-stable-decay
schedule, nlpcli/training/trunk.py) by ``add_steps`` steps at the constant lr and
write it back, or cool a copy of it down over ``cooldown`` steps into a release.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shlex
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from nlpcli import console
from nlpcli.batching import Pool, epoch_batches
from nlpcli.checkpoint import TIED_WEIGHTS, CheckpointInfo, save_checkpoint, write_atomically
from nlpcli.decoding import GenerationSettings
from nlpcli.errors import RecipeError
from nlpcli.model import ModelConfig, Seq2SeqTransformer
from nlpcli.runtime import cpu_has_bf16
from nlpcli.tasks import TASKS, DevSet
from nlpcli.tokenizer import Tokenizer
from nlpcli.training.averaging import WeightAverage
from nlpcli.training.distributed import World, launcher
from nlpcli.training.objectives import TaskLoss, collate, drop_tokens, mask_spans, prediction_count, task_loss
from nlpcli.training import trunk as trunks
from nlpcli.training.recipe import DatasetSpec, Recipe


def log(message: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 speaks
        console.info(message)


def special_tokens(recipe: Recipe) -> list[str]:
    """The tokens the recipe's tasks add to the vocabulary (translation's language tokens first)."""
    return [token for task in recipe.tasks for token in TASKS[task].special_tokens(recipe)]


def encode_set(spec: DatasetSpec, examples: list, tokenizer: Tokenizer, recipe: Recipe) -> Pool:
    task = TASKS[spec.task]
    return task.pool(spec, examples, tokenizer, task.training_window(recipe), recipe.model)


def training_texts(spec: DatasetSpec, examples: list):
    """The text of a set, for training the tokenizer."""
    task = TASKS[spec.task]
    for ex in examples:
        yield from task.training_texts(spec, ex)


def build_dev_sets(recipe: Recipe, data_root: Path, tokenizer: Tokenizer) -> list[DevSet]:
    dev_sets = []
    for spec in recipe.dev_data:
        examples = spec.load(data_root)
        if not examples:
            raise RecipeError(f"dev set {spec.name!r} ({Path(data_root) / spec.path}) is empty")
        dev_sets += TASKS[spec.task].dev_sets(spec, examples, tokenizer, recipe)
    return dev_sets


WSD_COOLDOWN_SHARE = 0.15  # a plain warmup-stable-decay run cools down over its last 15 % of steps
LOG_EVERY = 50  # steps between two lines of training loss in the log and metrics.jsonl
DEV_BATCH_SIZE = 64  # dev examples per batch of dev_loss
# primes that spread the seeds of the generators: the task drawn at each step
# (seed x STEP_SEEDS + step) and each task's stream of epochs (seed + TASK_SEEDS x task index)
STEP_SEEDS, TASK_SEEDS = 1_000_003, 7919
INFILLING_SEED = 500_009  # offsets the generator that draws a step's span infilling from the one that draws its task
LAST_STEP, AVERAGED = "last step", "averaged"  # the weights a validation scores (the second if kept)
AVERAGE_FILE = "average.safetensors"  # in a run's state/


@dataclass
class Schedule:
    """The lr factor of every step: linear warmup, then either cosine decay to
    ``min_ratio`` at ``total`` ("cosine") or a constant lr until ``decay_start`` and
    a (1 - sqrt) cooldown to ``min_ratio`` at ``total`` ("wsd"; Hägele et al. 2024).
    ``rewarmup`` steps from ``rewarmup_start`` ramp the lr up again linearly: a
    continuation whose optimizer moments start from zero needs them."""

    kind: str
    warmup: int
    total: int
    decay_start: int
    min_ratio: float
    rewarmup_start: int = 0
    rewarmup: int = 0

    @classmethod
    def of(cls, settings) -> "Schedule":
        decay_start = settings.max_steps - round(WSD_COOLDOWN_SHARE * settings.max_steps)
        return cls(settings.schedule, settings.warmup_steps, settings.max_steps, decay_start, settings.min_lr_ratio)

    def factor(self, step: int) -> float:
        ramp = min(1.0, (step - self.rewarmup_start + 1) / self.rewarmup) if self.rewarmup else 1.0
        if step < self.warmup:
            return ramp * (step + 1) / self.warmup
        if self.kind == "cosine":
            progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
            return ramp * (self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
        if step < self.decay_start:
            return ramp
        progress = min(1.0, (step - self.decay_start) / max(1, self.total - self.decay_start))
        return ramp * (self.min_ratio + (1 - self.min_ratio) * (1 - math.sqrt(progress)))


def with_task_heads(config: ModelConfig, tasks: list[str]) -> ModelConfig:
    """Every task's output layers on if it is trained, off if not."""
    for name, task in TASKS.items():
        task.configure_heads(config, name in tasks)
    return config


class Trainer:
    def __init__(self, recipe: Recipe, data_root: Path, run_dir: Path, device: str = "cpu",
                 resume: bool = False, overwrite: bool = False, world: World | None = None,
                 trunk: Path | None = None, add_steps: int = 0, cooldown: int = 0, time_limit: float = 0) -> None:
        """``trunk`` with ``add_steps``: continue that trunk (or start it, if the folder
        holds none) and write it back at the end; with ``cooldown``: cool a copy of it
        down over that many steps and export the last step as the checkpoint.
        ``time_limit`` (seconds) ends the run at the first step past it, as if
        max_steps were that step (a cooldown cannot be cut short)."""
        self.recipe, self.settings = recipe, recipe.train
        self.trunk, self.add_steps, self.cooldown = (Path(trunk) if trunk else None), add_steps, cooldown
        if self.trunk and bool(add_steps) == bool(cooldown):
            raise RecipeError("a trunk run either continues the trunk (add_steps) or cools it down (cooldown)")
        if self.cooldown and time_limit:
            raise RecipeError("a cooldown cannot be cut short by a time limit: it would not end cooled down")
        self.time_limit = time_limit
        if self.cooldown and not trunks.exists(self.trunk):
            raise RecipeError(f"no trunk in {self.trunk} to cool down (start one with --trunk {self.trunk} --steps N)")
        self.data_root, self.run_dir = Path(data_root), Path(run_dir)
        self.device = torch.device(device)
        self.world = world or World()
        if self.settings.accumulation % self.world.size:
            raise RecipeError(f"recipe key train.accumulation = {self.settings.accumulation} must be a multiple of "
                              f"the number of processes ({self.world.size})")
        if self.world.is_main:
            self.prepare_run_dir(resume, overwrite)
        self.world.barrier()
        torch.manual_seed(self.settings.seed)

        train_examples = [(spec, spec.load(self.data_root)) for spec in recipe.train_data]
        for spec, examples in train_examples:
            if not examples:
                raise RecipeError(f"training set {spec.name!r} ({self.data_root / spec.path}) is empty")
        initial = None if self.trunk_started else self.load_initial_checkpoint()
        if self.world.is_main:
            self.tokenizer = self.load_or_make_tokenizer(train_examples, initial, reuse=resume)
        self.world.barrier()
        if not self.world.is_main:
            self.tokenizer = Tokenizer.load(self.run_dir / "tokenizer.model")
        recipe.model.vocab_size = len(self.tokenizer)
        self.droppable = torch.ones(len(self.tokenizer), dtype=torch.bool)  # token dropout's text pieces
        self.droppable[self.tokenizer.special_ids()] = False
        with_task_heads(recipe.model, recipe.tasks)
        self.pools: dict[str, list[Pool]] = {task: [] for task in recipe.tasks}
        for spec, examples in train_examples:
            pool = encode_set(spec, examples, self.tokenizer, recipe)
            self.pools[spec.task].append(pool)
            log(f"train set {pool.name} ({spec.task}): {len(pool):,} examples, weight {pool.weight}")
        self.shares = recipe.task_shares({task: sum(len(p) * p.weight for p in pools) for task, pools in self.pools.items()},
                                         cooldown=bool(self.cooldown))
        log("task shares of steps: " + ", ".join(f"{t} {s:.2f}" for t, s in self.shares.items()))
        self.dev_sets = build_dev_sets(recipe, self.data_root, self.tokenizer) if self.world.is_main else []
        if self.world.is_main:
            self.write_dev_files()

        self.model = Seq2SeqTransformer(recipe.model).to(self.device)
        if initial is not None and not resume:
            self.copy_initial_weights(initial)
        trained = self.trained_parameters()  # frozen before DistributedDataParallel registers its gradient hooks
        self.trainable = TaskLoss(self.model, self.tokenizer.pad_id, self.settings.label_smoothing)
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            # a step trains one task, so parts of the model get no gradient in it
            self.trainable = DistributedDataParallel(
                self.trainable, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        self.plans: dict[str, tuple[int, list]] = {}
        self.optimizer = torch.optim.AdamW(
            trained, lr=self.settings.lr, betas=(0.9, 0.98), eps=1e-8,
            weight_decay=self.settings.weight_decay,
        )
        self.step = 0
        self.positions = {task: [0, 0] for task in self.pools}  # task -> [epoch, batch in epoch]
        self.best_score, self.elapsed = -math.inf, 0.0
        self.tokens_seen = {task: 0 for task in self.pools}
        self.history: list[dict] = []  # the trunk's continuations before this run
        self.last_validation: dict = {}  # the latest validate(): its step and scores, for the trunk's record
        self.run_start = {"step": 0, "elapsed": 0.0, "tokens_seen": dict(self.tokens_seen), "fresh_moments": False}
        if resume and (self.run_dir / "state").is_dir():
            self.load_state()
        elif self.trunk_started:
            self.restore_trunk()
        self.average = WeightAverage(self.model, self.settings.average_decay) if self.settings.average_decay else None
        if resume and self.average and (self.run_dir / "state" / AVERAGE_FILE).is_file():
            self.average.load(self.run_dir / "state" / AVERAGE_FILE, str(self.device))
        self.schedule = self.make_schedule()
        self.scaler = None
        if self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            self.scaler = torch.amp.GradScaler("cuda")  # fp16 autocast needs loss scaling; bf16 does not
        wants_cpu_bf16 = self.settings.cpu_bf16 and self.device.type == "cpu"
        self.cpu_bf16 = wants_cpu_bf16 and cpu_has_bf16()
        if wants_cpu_bf16 and not self.cpu_bf16:
            log("train.cpu_bf16: this CPU has no bfloat16 matrix instructions (AVX512-BF16, AMX), "
                "where emulated bfloat16 is many times slower: training in float32")
        if self.world.is_main:
            (self.run_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
        log(f"model: {self.model.num_parameters():,} parameters; device {self.device}; "
            f"vocabulary {len(self.tokenizer):,}; {self.world.size} process(es), "
            f"{self.settings.accumulation} micro-batch(es) of {self.settings.batch_tokens} tokens a step")

    def trained_parameters(self) -> list:
        """The parameters named by train.trainable (all without it); the others are
        frozen, so a stage can fit one task's output layers and leave every other
        task's results exactly as they were."""
        prefixes = tuple(self.settings.trainable)
        if not prefixes:
            return list(self.model.parameters())
        chosen = []
        for name, parameter in self.model.named_parameters():
            parameter.requires_grad_(name.startswith(prefixes))
            if parameter.requires_grad:
                chosen.append(parameter)
        if not chosen:
            raise RecipeError(f"recipe key train.trainable = {list(prefixes)} names no parameter of the model")
        log(f"training {sum(p.numel() for p in chosen):,} parameters ({', '.join(prefixes)}*); the rest are frozen")
        return chosen

    # ---- trunk ------------------------------------------------------------------
    @property
    def trunk_started(self) -> bool:
        return self.trunk is not None and trunks.exists(self.trunk)

    def restore_trunk(self) -> None:
        state, has_moments = trunks.restore(self.trunk, self.model, self.optimizer, self.device)
        self.step, self.elapsed, self.history = state.step, state.elapsed, state.history
        self.positions.update({task: list(position) for task, position in state.positions.items()})
        self.tokens_seen.update(state.tokens_seen)
        self.run_start = {"step": self.step, "elapsed": self.elapsed, "tokens_seen": dict(self.tokens_seen),
                          "fresh_moments": not has_moments}
        log(f"continuing the trunk {self.trunk} at step {self.step}"
            + ("" if has_moments else f" (no moments kept: re-warming the lr over {self.settings.rewarmup_steps} steps)"))

    def make_schedule(self) -> Schedule:
        """The recipe's schedule; in a trunk run, the constant phase extended by
        ``add_steps`` or a cooldown over ``cooldown`` steps from the trunk's step."""
        start = self.run_start["step"]
        if self.trunk:
            self.settings.schedule = "wsd"
            self.settings.max_steps = start + (self.add_steps or self.cooldown)
        schedule = Schedule.of(self.settings)
        if self.trunk:
            schedule.decay_start = start if self.cooldown else schedule.total
        if self.run_start["fresh_moments"]:
            schedule.rewarmup_start, schedule.rewarmup = start, self.settings.rewarmup_steps
        return schedule

    def continuation_record(self) -> dict:
        """What this run added: its command, steps, time and tokens, and the hardware."""
        seconds = self.elapsed - self.run_start["elapsed"]
        threads = torch.get_num_threads()
        kind = torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu"
        cores = self.world.size * (1 if self.device.type == "cuda" else threads)
        return {
            "kind": "cooldown" if self.cooldown else "continuation",
            "command": " ".join(shlex.quote(arg) for arg in [*launcher(self.world), *sys.argv[1:]]) if sys.argv[1:] else "",
            "from_step": self.run_start["step"], "to_step": self.step, "steps": self.step - self.run_start["step"],
            "seconds": round(seconds), "hardware_kind": kind,
            "hardware": f"{self.world.size} process(es) x {threads} thread(s), {platform.machine()} ({platform.processor() or 'cpu'})"
                        if kind == "cpu" else f"{self.world.size} x {kind}",
            "device_hours": round(seconds * cores / 3600, 4),
            "tokens": {task: self.tokens_seen[task] - self.run_start["tokens_seen"].get(task, 0) for task in self.tokens_seen},
            "fresh_moments": self.run_start["fresh_moments"],
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            # kept here because a run folder's log and metrics.jsonl need not outlive the machine
            **({"dev_at_end": self.last_validation["dev"], "dev_mean_loss_at_end": self.last_validation["mean_loss"]}
               if self.last_validation.get("step") == self.step else {}),
        }

    def save_trunk(self) -> None:
        state = trunks.TrunkState(step=self.step, positions=self.positions, tokens_seen=self.tokens_seen,
                                  elapsed=self.elapsed, history=self.history + [self.continuation_record()])
        kept = trunks.save(self.trunk, self.model, self.optimizer, state, self.recipe.to_dict(),
                           self.run_dir / "tokenizer.model", self.settings.trunk_precision, self.settings.trunk_max_mib)
        log(f"wrote the trunk {self.trunk} at step {self.step}" + ("" if kept else
            f" (weights only: with the moments it would exceed {self.settings.trunk_max_mib} MiB)"))

    # ---- run folder -------------------------------------------------------------
    def prepare_run_dir(self, resume: bool, overwrite: bool) -> None:
        recipe_file = self.run_dir / "recipe.json"
        if recipe_file.exists() and not resume:
            if not overwrite:
                raise RecipeError(f"{self.run_dir} already holds a run; pass --resume to continue it or --overwrite to replace it")
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def load_initial_checkpoint(self):
        if not self.settings.init_from:
            return None
        from nlpcli.checkpoint import load_checkpoint

        initial = load_checkpoint(self.settings.init_from)
        mine, theirs = self.recipe.model.to_dict(), initial.model.config.to_dict()
        for key in ("d_model", "n_heads", "ffn_dim", "encoder_layers", "decoder_layers", "pad_id"):
            if mine[key] != theirs[key]:
                raise RecipeError(f"recipe key model.{key} = {mine[key]} differs from train.init_from's {theirs[key]}")
        log(f"starting from {initial.path} (step {initial.info.training.get('steps', '?')})")
        return initial

    def load_or_make_tokenizer(self, train_examples, initial, reuse: bool) -> Tokenizer:
        path = self.run_dir / "tokenizer.model"
        if reuse and path.exists():
            return Tokenizer.load(path)
        if self.trunk_started:
            tokenizer = Tokenizer.load(self.trunk / "tokenizer.model")
        elif self.recipe.tokenizer.file:
            if not Path(self.recipe.tokenizer.file).is_file():
                raise RecipeError(f"recipe key tokenizer.file: {self.recipe.tokenizer.file} is not a file")
            tokenizer = Tokenizer.load(self.recipe.tokenizer.file).with_special_tokens(special_tokens(self.recipe))
        elif initial is not None:
            tokenizer = initial.tokenizer.with_special_tokens(special_tokens(self.recipe))
        else:
            log(f"training a {self.recipe.tokenizer.vocab_size}-piece SentencePiece model ...")
            texts = (text for spec, examples in train_examples for text in training_texts(spec, examples))
            tokenizer = Tokenizer.train(texts, self.recipe.tokenizer.vocab_size, special_tokens(self.recipe),
                                        max_sentences=self.recipe.tokenizer.max_sentences,
                                        split_digits=self.recipe.tokenizer.split_digits,
                                        character_coverage=self.recipe.tokenizer.character_coverage)
        tokenizer.save(path)
        return tokenizer

    def copy_initial_weights(self, initial) -> None:
        """Every weight the two models share is copied; new embedding rows (the
        added task tokens) and new output layers keep their fresh initialisation."""
        own = self.model.state_dict()
        with torch.no_grad():
            for name, tensor in initial.model.state_dict().items():
                if name not in own:
                    continue
                target = own[name]
                if target.shape == tensor.shape:
                    target.copy_(tensor)
                elif name == "shared.weight":  # the vocabulary grew by the task tokens
                    target[: tensor.size(0)].copy_(tensor)

    def write_dev_files(self) -> None:
        folder = self.run_dir / "dev"
        folder.mkdir(exist_ok=True)
        for dev in self.dev_sets:
            TASKS[dev.task].write_dev_files(dev, folder)

    # ---- state ------------------------------------------------------------------
    def save_state(self) -> None:
        from safetensors.torch import save_file

        weights = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()
                   if k not in TIED_WEIGHTS}
        trainer_state = {
            "optimizer": self.optimizer.state_dict(),
            "step": self.step, "positions": json.dumps(self.positions),
            "best_score": self.best_score, "elapsed": self.elapsed, "tokens_seen": json.dumps(self.tokens_seen),
            "history": json.dumps(self.history), "run_start": json.dumps(self.run_start),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }

        def write_files(staging: Path) -> None:
            save_file(weights, str(staging / "model.safetensors"))
            torch.save(trainer_state, staging / "trainer.pt")
            if self.average:
                self.average.save(staging / AVERAGE_FILE)

        write_atomically(self.run_dir / "state", write_files)

    def load_state(self) -> None:
        from safetensors.torch import load_file

        folder = self.run_dir / "state"
        self.model.load_state_dict(load_file(str(folder / "model.safetensors"), device=str(self.device)), strict=False)
        state = torch.load(folder / "trainer.pt", map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.positions = state["step"], json.loads(state["positions"])
        self.best_score, self.elapsed = state["best_score"], state["elapsed"]
        self.tokens_seen = json.loads(state["tokens_seen"])
        self.history = json.loads(state.get("history", "[]"))
        self.run_start = json.loads(state["run_start"]) if "run_start" in state else self.run_start
        torch.set_rng_state(state["torch_rng"].cpu())
        if self.device.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        log(f"resumed {self.run_dir} at step {self.step}")

    def record(self, event: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(event) + "\n")

    # ---- loop -------------------------------------------------------------------
    def task_of_step(self, step: int) -> str:
        tasks = list(self.shares)
        if len(tasks) == 1:
            return tasks[0]
        generator = torch.Generator().manual_seed(self.settings.seed * STEP_SEEDS + step)
        return tasks[int(torch.multinomial(torch.tensor(list(self.shares.values())), 1, generator=generator))]

    def next_batch(self, task: str) -> list[tuple[int, int]]:
        """The next batch of ``task``'s stream of epochs, continuing from the saved position."""
        position = self.positions[task]
        seed = self.settings.seed + TASK_SEEDS * list(self.pools).index(task)
        while True:
            if self.plans.get(task, (None,))[0] != position[0]:
                self.plans[task] = (position[0], epoch_batches(self.pools[task], self.settings.batch_tokens, seed, position[0]))
            plan = self.plans[task][1]
            if position[1] < len(plan):
                position[1] += 1
                return plan[position[1] - 1]
            position[0], position[1] = position[0] + 1, 0

    def autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16 if self.scaler else torch.bfloat16)
        # bfloat16 matrix products (AVX512-BF16/AMX) with float32 weights, optimizer and loss
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cpu_bf16)

    def train(self) -> Path:
        """Train to ``max_steps``; returns the folder of the best checkpoint."""
        self.model.train()
        with console.progress("training", total=self.settings.max_steps) as update:
            update(self.step)
            self.run_steps(update)
        if self.world.is_main and self.trunk and self.add_steps:
            self.save_trunk()
        return self.run_dir / "checkpoint"

    def run_steps(self, update) -> None:
        settings = self.settings
        deadline = time.time() + self.time_limit if self.time_limit else math.inf
        window = {"loss": {}, "count": {}, "tokens": 0, "start": time.time()}
        while self.step < settings.max_steps:
            step_start = time.time()
            task = self.task_of_step(self.step)
            infilling = self.infilling_step(task)
            loss_sum, count, tokens = self.train_step(task, infilling)
            grad_norm = self.optimizer_step()
            self.step += 1
            if self.average:
                self.average.update(self.model, self.step)
            self.tokens_seen[task] += tokens
            self.elapsed += time.time() - step_start
            logged = f"{task} infilling" if infilling else task
            window["loss"][logged] = window["loss"].get(logged, 0.0) + loss_sum
            window["count"][logged] = window["count"].get(logged, 0) + count
            window["tokens"] += tokens
            # every rank stops at the same step: their clocks started apart, and a rank that stopped
            # before the others would leave them waiting for it in the gradient all-reduce
            if self.world.any(time.time() >= deadline) and self.step < settings.max_steps:
                log(f"time limit reached: stopping at step {self.step}")
                settings.max_steps = self.step

            if self.world.is_main and (self.step % LOG_EVERY == 0 or self.step == settings.max_steps):
                self.log_window(window, grad_norm)
                window = {"loss": {}, "count": {}, "tokens": 0, "start": time.time()}
            if self.world.is_main and (self.step % settings.eval_every == 0 or self.step == settings.max_steps):
                self.validate()
                window["start"] = time.time()
            if self.world.is_main and (self.step % settings.save_every == 0 or self.step == settings.max_steps):
                self.save_state()
            update(self.step)

    def infilling_step(self, task: str) -> bool:
        """Whether this step of ``task`` trains span infilling ([span_infilling]),
        drawn like every step's task from a generator seeded by the step."""
        chance = self.recipe.span_infilling.get(task, 0.0)
        if not chance:
            return False
        generator = torch.Generator().manual_seed(self.settings.seed * STEP_SEEDS + self.step + INFILLING_SEED)
        return bool(torch.rand((), generator=generator) < chance)

    def train_step(self, task: str, infilling: bool = False) -> tuple[float, int, int]:
        """Forward and backward over this step's micro-batches: every rank draws
        the same ``accumulation`` batches of the task's stream and trains on its
        share, so N ranks x A micro-batches each = 1 rank x N*A micro-batches.
        Gradients are of the loss summed over all predictions of the step divided
        by their count. ``infilling``: the batches' texts with spans hidden, and the
        decoder restores them (mask_spans; no token dropout on top). Returns the
        step's summed loss, predictions and source tokens."""
        pad_id, world, tok = self.tokenizer.pad_id, self.world, self.tokenizer
        micro_batches = [self.next_batch(task) for _ in range(self.settings.accumulation)]
        mine = [collate(self.pools[task], b, pad_id, task) for b in micro_batches[world.rank :: world.size]]
        if infilling:
            mine = [mask_spans(src, self.droppable, tok.unk_id, tok.bos_id, tok.eos_id, pad_id) for src, _ in mine]
        elif chance := self.recipe.token_dropout.get(task, 0.0):
            mine = [(drop_tokens(src, chance, self.droppable, tok.unk_id), tgt) for src, tgt in mine]
        local_count = sum(prediction_count(task, tgt, pad_id, infilling) for _, tgt in mine)
        local_tokens = sum(int(src.ne(pad_id).sum()) for src, _ in mine)
        count, tokens = world.sum([local_count, local_tokens])
        local_loss = 0.0
        for index, (src, tgt) in enumerate(mine):
            last = index == len(mine) - 1
            # DistributedDataParallel averages gradients over ranks: scale the sum back up
            with self.autocast(), (nullcontext() if last or not world.distributed else self.trainable.no_sync()):
                loss_sum = self.trainable(task, src.to(self.device), tgt.to(self.device), infilling)
            scaled = loss_sum * world.size / count
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            local_loss += loss_sum.item()
        [loss] = world.sum([local_loss])
        return loss, int(count), int(tokens)

    def optimizer_step(self) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.lr * self.schedule.factor(self.step)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], self.settings.clip_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(grad_norm)

    def log_window(self, window: dict, grad_norm) -> None:
        losses = {task: window["loss"][task] / window["count"][task] for task in window["loss"]}
        event = {"step": self.step, "loss": sum(losses.values()) / len(losses), "task_loss": losses,
                 "lr": self.optimizer.param_groups[0]["lr"],
                 "tokens_per_s": window["tokens"] / (time.time() - window["start"]),
                 "grad_norm": grad_norm, "elapsed_s": round(self.elapsed, 1)}
        self.record(event)
        log(f"step {self.step}/{self.settings.max_steps} " + " ".join(f"{t} {v:.3f}" for t, v in losses.items())
            + f" lr {event['lr']:.2e} {event['tokens_per_s']:.0f} src tok/s")

    # ---- validation -------------------------------------------------------------
    @torch.inference_mode()
    def dev_loss(self, dev: DevSet) -> float:
        total, count = 0.0, 0
        for start in range(0, len(dev.pool), DEV_BATCH_SIZE):
            batch = [(0, i) for i in range(start, min(start + DEV_BATCH_SIZE, len(dev.pool)))]
            src, tgt = collate([dev.pool], batch, self.tokenizer.pad_id, dev.task)
            loss_sum = task_loss(self.model, dev.task, src.to(self.device), tgt.to(self.device), self.tokenizer.pad_id, 0.0)
            n = prediction_count(dev.task, tgt, self.tokenizer.pad_id)
            total, count = total + loss_sum.item(), count + n
        return total / count

    def dev_scores(self) -> dict:
        """Dev loss of every dev set, and the task's own dev scores (greedy BLEU for translation)."""
        decode = GenerationSettings(beam=self.settings.eval_beam, batch_size=self.settings.eval_batch_size)
        return {dev.name: {"loss": round(self.dev_loss(dev), 4),
                           **TASKS[dev.task].dev_scores(dev, self.model, self.tokenizer, str(self.device), decode)}
                for dev in self.dev_sets}

    def weights(self, which: str):
        """A block in which the model holds ``which`` weights: the last step's, or their average."""
        return nullcontext() if which == LAST_STEP else self.average.applied(self.model)

    def validate(self) -> None:
        """Score the last step's weights (and their moving average, if kept) on every
        dev set; the checkpoint keeps the lowest mean dev loss seen, or in a cooldown
        the better of the two at the last step."""
        self.model.eval()
        started = time.time()
        candidates = {LAST_STEP: self.dev_scores()}
        if self.average:
            with self.weights(AVERAGED):
                candidates[AVERAGED] = self.dev_scores()
        means = {which: sum(s["loss"] for s in scores.values()) / max(1, len(scores)) for which, scores in candidates.items()}
        self.last_validation = {"step": self.step, "dev": candidates,
                                "mean_loss": {which: round(mean, 4) for which, mean in means.items()}}
        event = {"step": self.step, "dev": candidates[LAST_STEP], "mean_loss": means[LAST_STEP]}
        if self.average:
            event.update(dev_averaged=candidates[AVERAGED], mean_loss_averaged=means[AVERAGED])
        self.record({**event, "eval_s": round(time.time() - started, 1)})
        for which, scores in candidates.items():
            log(f"validation at step {self.step}{'' if which == LAST_STEP else ' (averaged weights)'}: " + "; ".join(
                f"{name} loss {s['loss']:.3f}" + (f" BLEU {s['bleu']:.2f}" if "bleu" in s else "") for name, s in scores.items()))
        best = min(means, key=means.get)
        if self.cooldown:  # a release is the cooled-down last step (or its average), not the best one along the way
            if self.step == self.settings.max_steps:
                self.export(self.run_dir / "checkpoint", candidates[best], best)
                log(f"cooled down: wrote {self.run_dir / 'checkpoint'} ({self.describe_weights(best)})")
        elif -means[best] > self.best_score:
            self.best_score = -means[best]
            self.export(self.run_dir / "checkpoint", candidates[best], best)
            log(f"new best mean dev loss {means[best]:.3f} ({self.describe_weights(best)}): wrote {self.run_dir / 'checkpoint'}")
        self.model.train()

    def describe_weights(self, which: str) -> str:
        return f"weights of step {self.step}" if which == LAST_STEP else f"weights: {self.average.describe()}"

    def served_tasks(self) -> dict:
        return {task: TASKS[task].served(self.recipe) for task in self.pools}

    def export(self, folder: Path, scores: dict, which: str) -> None:
        info = CheckpointInfo(
            tasks=self.served_tasks(),
            training={
                "recipe": self.recipe.name, "steps": self.step, "source_tokens_seen": dict(self.tokens_seen),
                "task_shares": self.shares, "init_from": self.settings.init_from or None,
                "train_seconds": round(self.elapsed), "device": torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu",
                **self.trunk_history(),
                "data": [{"name": s.name, "task": s.task, "path": s.path, "weight": s.weight,
                          **TASKS[s.task].data_entry(s)} for s in self.recipe.train_data],
                "dev_scores_greedy": scores,
                **({"weights": self.average.describe()} if which != LAST_STEP else {}),
            },
        )
        with self.weights(which):
            save_checkpoint(folder, self.model, self.tokenizer, info)

    def trunk_history(self) -> dict:
        """A trunk run's checkpoint carries every continuation that led to it and their totals."""
        if not self.trunk:
            return {}
        history = self.history + [self.continuation_record()]
        return {"trunk": str(self.trunk), "history": history, "totals": trunks.totals(history)}
