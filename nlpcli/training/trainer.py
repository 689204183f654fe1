"""``nlpcli train``: tokenizer, data, the training loop, validation and checkpoints.

A run folder holds everything of one run:
  recipe.json        the resolved recipe (overrides applied)
  tokenizer.model    SentencePiece model trained on the training text
  state/             weights + optimizer, scheduler, RNG and data position (for --resume)
  checkpoint/        the best model so far, as a shippable checkpoint folder
  metrics.jsonl      one line per log/validation event
  dev/               each dev set's sources and references as plain text
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nlpcli import console
from nlpcli.checkpoint import TIED_WEIGHTS, CheckpointInfo, save_checkpoint, write_atomically
from nlpcli.errors import RecipeError
from nlpcli.metrics import bleu
from nlpcli.model import Seq2SeqTransformer
from nlpcli.tasks import language_token, parse_direction
from nlpcli.tokenizer import Tokenizer
from nlpcli.batching import Pool, collate, epoch_batches
from nlpcli.training.recipe import DatasetSpec, Recipe
from nlpcli.translate import TranslationSettings, Translator


@dataclass
class DevSet:
    name: str  # e.g. "multi30k.en-de"
    direction: str
    sources: list[str]
    references: list[str]
    pool: Pool


def log(message: str) -> None:
    console.info(message)


def special_tokens(recipe: Recipe) -> list[str]:
    return [language_token(lang) for lang in recipe.languages]


def encode_pool(spec: DatasetSpec, examples: list[dict[str, str]], tokenizer: Tokenizer, max_length: int) -> Pool:
    """Each direction of the set becomes (<2tgt> source </s>, <s> target </s>) pairs."""
    ids = {lang: tokenizer.encode_batch([ex[lang] for ex in examples]) for lang in spec.languages}
    pool = Pool(spec.name, [], [], spec.weight)
    for direction in spec.directions:
        source, target = parse_direction(direction)
        tag = tokenizer.token_id(language_token(target))
        for src, tgt in zip(ids[source], ids[target]):
            if len(src) + 2 <= max_length and len(tgt) + 2 <= max_length:
                pool.sources.append([tag] + src + [tokenizer.eos_id])
                pool.targets.append([tokenizer.bos_id] + tgt + [tokenizer.eos_id])
    return pool


def build_dev_sets(recipe: Recipe, data_root: Path, tokenizer: Tokenizer) -> list[DevSet]:
    dev_sets = []
    for spec in recipe.dev_data:
        examples = spec.load(data_root)
        if not examples:
            raise RecipeError(f"dev set {spec.name!r} ({Path(data_root) / spec.path}) is empty")
        for direction in spec.directions:
            source, target = parse_direction(direction)
            single = DatasetSpec(spec.name, spec.path, spec.languages, [direction])
            pool = encode_pool(single, examples, tokenizer, recipe.model.max_positions)
            dev_sets.append(DevSet(
                f"{spec.name}.{direction}", direction,
                [ex[source] for ex in examples], [ex[target] for ex in examples], pool,
            ))
    return dev_sets


def lr_factor(step: int, settings) -> float:
    """Linear warmup, then cosine decay to ``min_lr_ratio``."""
    if step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    progress = min(1.0, (step - settings.warmup_steps) / max(1, settings.max_steps - settings.warmup_steps))
    return settings.min_lr_ratio + (1 - settings.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def sequence_loss(model, src, tgt, pad_id: int, label_smoothing: float) -> tuple[torch.Tensor, int]:
    """Label-smoothed cross-entropy summed over target tokens, and their count."""
    logits = model(src, tgt[:, :-1])
    gold = tgt[:, 1:]
    loss = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), gold.reshape(-1),
        ignore_index=pad_id, label_smoothing=label_smoothing, reduction="sum",
    )
    return loss, int(gold.ne(pad_id).sum())


class Trainer:
    def __init__(self, recipe: Recipe, data_root: Path, run_dir: Path, device: str = "cpu",
                 resume: bool = False, overwrite: bool = False) -> None:
        self.recipe, self.settings = recipe, recipe.train
        self.data_root, self.run_dir = Path(data_root), Path(run_dir)
        self.device = torch.device(device)
        self.prepare_run_dir(resume, overwrite)
        torch.manual_seed(self.settings.seed)

        train_examples = [(spec, spec.load(self.data_root)) for spec in recipe.train_data]
        for spec, examples in train_examples:
            if not examples:
                raise RecipeError(f"training set {spec.name!r} ({self.data_root / spec.path}) is empty")
        self.tokenizer = self.load_or_train_tokenizer(train_examples, reuse=resume)
        recipe.model.vocab_size = len(self.tokenizer)
        self.pools = [encode_pool(spec, ex, self.tokenizer, self.settings.max_length) for spec, ex in train_examples]
        for pool in self.pools:
            log(f"train set {pool.name}: {len(pool):,} examples, weight {pool.weight}")
        self.dev_sets = build_dev_sets(recipe, self.data_root, self.tokenizer)
        self.write_dev_files()

        self.model = Seq2SeqTransformer(recipe.model).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.settings.lr, betas=(0.9, 0.98), eps=1e-8,
            weight_decay=self.settings.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, self.settings))
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best_score, self.elapsed, self.tokens_seen = -1.0, 0.0, 0
        if resume and (self.run_dir / "state").is_dir():
            self.load_state()
        (self.run_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
        log(f"model: {self.model.num_parameters():,} parameters; device {self.device}; "
            f"vocabulary {len(self.tokenizer):,}")

    # ---- run folder -------------------------------------------------------------
    def prepare_run_dir(self, resume: bool, overwrite: bool) -> None:
        recipe_file = self.run_dir / "recipe.json"
        if recipe_file.exists() and not resume:
            if not overwrite:
                raise RecipeError(f"{self.run_dir} already holds a run; pass --resume to continue it or --overwrite to replace it")
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def load_or_train_tokenizer(self, train_examples, reuse: bool) -> Tokenizer:
        path = self.run_dir / "tokenizer.model"
        if reuse and path.exists():
            return Tokenizer.load(path)
        log(f"training a {self.recipe.tokenizer.vocab_size}-piece SentencePiece model ...")
        texts = (ex[lang] for spec, examples in train_examples for ex in examples for lang in spec.languages)
        tokenizer = Tokenizer.train(texts, self.recipe.tokenizer.vocab_size, special_tokens(self.recipe),
                                    max_sentences=self.recipe.tokenizer.max_sentences)
        tokenizer.save(path)
        return tokenizer

    def write_dev_files(self) -> None:
        folder = self.run_dir / "dev"
        folder.mkdir(exist_ok=True)
        for dev in self.dev_sets:
            source, target = parse_direction(dev.direction)
            (folder / f"{dev.name}.{source}").write_text("\n".join(dev.sources) + "\n", encoding="utf-8")
            (folder / f"{dev.name}.{target}").write_text("\n".join(dev.references) + "\n", encoding="utf-8")

    # ---- state ------------------------------------------------------------------
    def save_state(self) -> None:
        from safetensors.torch import save_file

        weights = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()
                   if k not in TIED_WEIGHTS}
        trainer_state = {
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "best_score": self.best_score, "elapsed": self.elapsed, "tokens_seen": self.tokens_seen,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }

        def write_files(staging: Path) -> None:
            save_file(weights, str(staging / "model.safetensors"))
            torch.save(trainer_state, staging / "trainer.pt")

        write_atomically(self.run_dir / "state", write_files)

    def load_state(self) -> None:
        from safetensors.torch import load_file

        folder = self.run_dir / "state"
        self.model.load_state_dict(load_file(str(folder / "model.safetensors"), device=str(self.device)), strict=False)
        state = torch.load(folder / "trainer.pt", map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best_score, self.elapsed = state["best_score"], state["elapsed"]
        self.tokens_seen = state["tokens_seen"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if self.device.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        log(f"resumed {self.run_dir} at step {self.step} (epoch {self.epoch}, batch {self.batch_in_epoch})")

    def record(self, event: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(event) + "\n")

    # ---- loop -------------------------------------------------------------------
    def batches(self):
        """Endless stream of batches, continuing from the saved data position."""
        while True:
            plan = epoch_batches(self.pools, self.settings.batch_tokens, self.settings.seed, self.epoch)
            while self.batch_in_epoch < len(plan):
                batch = plan[self.batch_in_epoch]
                self.batch_in_epoch += 1
                yield batch
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0

    def autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    def train(self) -> Path:
        """Train to ``max_steps``; returns the folder of the best checkpoint."""
        self.model.train()
        with console.progress("training", total=self.settings.max_steps) as update:
            update(self.step)
            self.run_steps(update)
        return self.run_dir / "checkpoint"

    def run_steps(self, update) -> None:
        settings, pad_id = self.settings, self.tokenizer.pad_id
        window_loss, window_tokens, window_start = 0.0, 0, time.time()
        batches = self.batches()
        while self.step < settings.max_steps:
            step_start = time.time()
            src, tgt = collate(self.pools, next(batches), pad_id)
            src, tgt = src.to(self.device), tgt.to(self.device)
            with self.autocast():
                loss_sum, n_tokens = sequence_loss(self.model, src, tgt, pad_id, settings.label_smoothing)
            (loss_sum / n_tokens).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), settings.clip_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.scheduler.step()
            self.step += 1
            self.tokens_seen += n_tokens
            self.elapsed += time.time() - step_start
            window_loss += loss_sum.item()
            window_tokens += n_tokens

            if self.step % 50 == 0 or self.step == settings.max_steps:
                seconds = time.time() - window_start
                event = {"step": self.step, "epoch": self.epoch, "loss": window_loss / window_tokens,
                         "lr": self.scheduler.get_last_lr()[0], "tokens_per_s": window_tokens / seconds,
                         "grad_norm": float(grad_norm), "elapsed_s": round(self.elapsed, 1)}
                self.record(event)
                log(f"step {self.step}/{settings.max_steps} epoch {self.epoch} loss {event['loss']:.3f} "
                    f"lr {event['lr']:.2e} {event['tokens_per_s']:.0f} tgt tok/s")
                window_loss, window_tokens, window_start = 0.0, 0, time.time()
            if self.step % settings.eval_every == 0 or self.step == settings.max_steps:
                self.validate()
                window_start = time.time()
            if self.step % settings.save_every == 0 or self.step == settings.max_steps:
                self.save_state()
            update(self.step)

    # ---- validation -------------------------------------------------------------
    @torch.inference_mode()
    def dev_loss(self, dev: DevSet) -> float:
        total, count = 0.0, 0
        for start in range(0, len(dev.pool), 64):
            batch = [(0, i) for i in range(start, min(start + 64, len(dev.pool)))]
            src, tgt = collate([dev.pool], batch, self.tokenizer.pad_id)
            loss_sum, n = sequence_loss(self.model, src.to(self.device), tgt.to(self.device), self.tokenizer.pad_id, 0.0)
            total, count = total + loss_sum.item(), count + n
        return total / count

    def validate(self) -> None:
        self.model.eval()
        started = time.time()
        translator = Translator(self.model, self.tokenizer, str(self.device))
        decode = TranslationSettings(beam=self.settings.eval_beam, batch_size=self.settings.eval_batch_size)
        scores = {}
        for dev in self.dev_sets:
            target = parse_direction(dev.direction)[1]
            results, _ = translator.translate(dev.sources, target, decode)
            hypotheses = [r[0].text if r else "" for r in results]
            scores[dev.name] = {"loss": round(self.dev_loss(dev), 4), "bleu": round(bleu(hypotheses, dev.references), 2)}
        mean_bleu = sum(s["bleu"] for s in scores.values()) / max(1, len(scores))
        self.record({"step": self.step, "dev": scores, "mean_bleu": mean_bleu, "eval_s": round(time.time() - started, 1)})
        log(f"validation at step {self.step}: " + "; ".join(
            f"{name} loss {s['loss']:.3f} BLEU {s['bleu']:.2f}" for name, s in scores.items()))
        if mean_bleu > self.best_score:
            self.best_score = mean_bleu
            self.export(self.run_dir / "checkpoint", scores)
            log(f"new best mean BLEU {mean_bleu:.2f}: wrote {self.run_dir / 'checkpoint'}")
        self.model.train()

    def export(self, folder: Path, scores: dict) -> None:
        info = CheckpointInfo(
            tasks={"translate": {"directions": self.recipe.directions, "languages": self.recipe.languages}},
            training={
                "recipe": self.recipe.name, "steps": self.step, "target_tokens_seen": self.tokens_seen,
                "train_seconds": round(self.elapsed), "device": torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu",
                "data": [{"name": s.name, "path": s.path, "directions": s.directions, "weight": s.weight} for s in self.recipe.train_data],
                "dev_scores_greedy": scores,
            },
        )
        save_checkpoint(folder, self.model, self.tokenizer, info)
