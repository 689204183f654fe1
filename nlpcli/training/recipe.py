"""Training recipes: a TOML file plus command-line overrides (``section.key=value``).

Every key is checked: an unknown key or a value of the wrong type is refused
with a message naming it.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from nlpcli.data.parallel import carve
from nlpcli.errors import RecipeError
from nlpcli.model import ModelConfig
from nlpcli.tasks import TASKS, parse_direction
from nlpcli.tasks.translate import trained_directions, trained_languages


@dataclass
class TokenizerSettings:
    vocab_size: int = 8000
    max_sentences: int = 1_000_000
    split_digits: bool = False  # every digit its own piece (numbers spelled alike everywhere)
    character_coverage: float = 0.9995  # rarer characters are spelled as UTF-8 bytes
    file: str = ""  # an existing SentencePiece model to use instead of training one (task tokens are added)


@dataclass
class TrainSettings:
    max_steps: int = 10_000
    batch_tokens: int = 4096  # padded source tokens per micro-batch
    accumulation: int = 1  # micro-batches per optimizer step, summed over all ranks (a multiple of the rank count)
    lr: float = 1e-3
    schedule: str = "cosine"  # "cosine": warmup, cosine decay to max_steps; "wsd": warmup, constant, cooldown
    warmup_steps: int = 1000
    min_lr_ratio: float = 0.05  # the decay ends at lr * min_lr_ratio
    weight_decay: float = 0.0001
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    max_length: int = 128  # training examples longer than this (tokens) are skipped
    eval_every: int = 500
    save_every: int = 250
    eval_beam: int = 1
    eval_batch_size: int = 64
    seed: int = 1
    mix_temperature: float = 0.0  # > 0: task shares by examples per epoch ** (1/T) instead of [mix]
    cpu_bf16: bool = False  # bfloat16 autocast on the CPU: ~1.9x faster linear layers with AVX512-BF16; float32 without
    average_decay: float = 0.0  # > 0: keep an EMA of the weights too; the checkpoint is whichever scores better on dev
    rewarmup_steps: int = 100  # a continuation of a trunk kept without optimizer moments re-warms the lr this long
    trunk_precision: str = "compact"  # "compact": float16 weights, bfloat16 moments; "exact": float32
    trunk_max_mib: float = 40.0  # a trunk larger than this with its moments is kept without them
    init_from: str = ""  # a checkpoint folder to start from (its tokenizer gains the recipe's task tokens)
    trainable: list[str] = field(default_factory=list)  # parameter-name prefixes to train, the rest frozen (empty: all)


@dataclass
class DatasetSpec:
    """One corpus of one task. ``path`` is relative to the data folder (``--data``).
    ``format`` is one of the task's formats (its Task class in nlpcli/tasks/ says
    which, and what ``languages``, ``directions``, ``fields`` and
    ``lowercase_target`` mean for them).

    ``carve_percent`` > 0 splits a set that has no dev split by a hash of a key
    (first language, text, or the article title for SQuAD); ``split`` picks
    the side ("train" or "dev").
    ``weight``: examples drawn per epoch relative to the set's size (0.25 = a
    fresh random quarter every epoch, 2 = twice over).
    ``limit``: use only the first N examples (dev sets: bounds validation time).
    ``match``: keep only the examples one of whose texts matches this regular
    expression (Python ``re.search``). With the same corpus listed twice, once
    filtered, the matching examples are drawn more often (e.g. a classifier's
    training phrases of the length its inputs have).
    """

    name: str
    path: str
    task: str = "translate"
    languages: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    format: str = "line-aligned"
    lowercase_target: bool = False
    weight: float = 1.0
    carve_percent: float = 0.0
    split: str = "train"
    limit: int = 0
    match: str = ""

    def load(self, data_root: Path) -> list[dict]:
        task = TASKS[self.task]
        examples = task.read_examples(self, Path(data_root) / self.path)
        if self.carve_percent:
            examples = carve(examples, task.carve_key(self), self.carve_percent, self.split)
        if self.match:
            pattern = re.compile(self.match)
            examples = [ex for ex in examples if any(pattern.search(text) for text in task.training_texts(self, ex))]
        return examples[: self.limit] if self.limit else examples


@dataclass
class Recipe:
    name: str
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    train_data: list[DatasetSpec] = field(default_factory=list)
    dev_data: list[DatasetSpec] = field(default_factory=list)
    mix: dict = field(default_factory=dict)  # task -> share of training steps
    cooldown_mix: dict = field(default_factory=dict)  # task -> share of a release cooldown's steps ([mix] if empty)
    token_dropout: dict = field(default_factory=dict)  # task -> chance that a piece of its training input becomes <unk>
    span_infilling: dict = field(default_factory=dict)  # task -> chance that a step of it trains span infilling on its batch

    @property
    def tasks(self) -> list[str]:
        return [task for task in TASKS if any(spec.task == task for spec in self.train_data)]

    def task_shares(self, examples_per_epoch: dict[str, float] | None = None, cooldown: bool = False) -> dict[str, float]:
        """Share of steps per task: the [mix] weights, normalised; equal shares without one.
        With ``train.mix_temperature`` T > 0, shares follow each task's examples per
        epoch to the power 1/T instead (T = 1: as sampled from all data pooled; larger
        T moves towards equal shares; Arivazhagan et al. 2019). A release cooldown
        takes the [cooldown_mix] weights where the recipe has them: the steps a model
        ends on weigh most, so they go where its release is weakest."""
        by_cooldown_mix = cooldown and bool(self.cooldown_mix)
        if not by_cooldown_mix and self.train.mix_temperature > 0 and examples_per_epoch:
            weights = {task: examples_per_epoch[task] ** (1 / self.train.mix_temperature) for task in self.tasks}
        else:
            table = self.cooldown_mix if by_cooldown_mix else self.mix
            weights = {task: float(table.get(task, 0.0 if table else 1.0)) for task in self.tasks}
        total = sum(weights.values())
        return {task: weight / total for task, weight in weights.items()}

    @property
    def languages(self) -> list[str]:
        return trained_languages(self.train_data)

    @property
    def directions(self) -> list[str]:
        return trained_directions(self.train_data)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_type(where: str, value: Any, expected: type) -> Any:
    if expected is bool and not isinstance(value, bool):
        raise RecipeError(f"recipe key {where}: expected true or false, got {value!r}")
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    origin = getattr(expected, "__origin__", None)
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecipeError(f"recipe key {where}: expected a list of strings, got {value!r}")
        return value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise RecipeError(f"recipe key {where}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise RecipeError(f"recipe key {where}: expected a table")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise RecipeError(f"unknown recipe key {where}.{key} (known: {', '.join(sorted(known))})")
    kwargs = {key: _check_type(f"{where}.{key}", value, hints[key]) for key, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise RecipeError(f"recipe table {where}: {error}") from None


def recipe_from_dict(raw: dict) -> Recipe:
    known = {"name", "model", "tokenizer", "train", "data", "mix", "cooldown_mix", "token_dropout", "span_infilling"}
    for key in raw:
        if key not in known:
            raise RecipeError(f"unknown recipe key {key} (known: {', '.join(sorted(known))})")
    data = raw.get("data", {})
    for key in data:
        if key not in ("train", "dev"):
            raise RecipeError(f"unknown recipe key data.{key} (known: dev, train)")
    recipe = Recipe(
        name=_check_type("name", raw.get("name", "nlpcli"), str),
        model=_build(ModelConfig, raw.get("model", {}), "model"),
        tokenizer=_build(TokenizerSettings, raw.get("tokenizer", {}), "tokenizer"),
        train=_build(TrainSettings, raw.get("train", {}), "train"),
        train_data=[_build(DatasetSpec, d, f"data.train[{i}]") for i, d in enumerate(data.get("train", []))],
        dev_data=[_build(DatasetSpec, d, f"data.dev[{i}]") for i, d in enumerate(data.get("dev", []))],
        mix=_check_task_table("mix", raw.get("mix", {})),
        cooldown_mix=_check_task_table("cooldown_mix", raw.get("cooldown_mix", {})),
        token_dropout=_check_task_table("token_dropout", raw.get("token_dropout", {})),
        span_infilling=_check_task_table("span_infilling", raw.get("span_infilling", {})),
    )
    if not recipe.train_data:
        raise RecipeError("recipe has no [[data.train]] data set")
    if recipe.train.schedule not in ("cosine", "wsd"):
        raise RecipeError(f"recipe key train.schedule: expected \"cosine\" or \"wsd\", got {recipe.train.schedule!r}")
    for table in ("token_dropout", "span_infilling"):
        for task, chance in getattr(recipe, table).items():
            if not 0.0 <= chance < 1.0:
                raise RecipeError(f"recipe key {table}.{task}: expected a chance in [0, 1), got {chance}")
    if recipe.train.trunk_precision not in ("compact", "exact"):
        raise RecipeError(f"recipe key train.trunk_precision: expected \"compact\" or \"exact\", got {recipe.train.trunk_precision!r}")
    for spec in recipe.train_data + recipe.dev_data:
        if spec.task not in TASKS:
            raise RecipeError(f"data set {spec.name!r}: unknown task {spec.task!r} (known: {', '.join(TASKS)})")
        task = TASKS[spec.task]
        if spec.format not in task.formats:
            raise RecipeError(f"data set {spec.name!r}: format {spec.format!r} is not one of {spec.task}'s: "
                              f"{', '.join(task.formats)}")
        if spec.format in ("jsonl", "glue-tsv") and len(spec.fields) != 2:
            raise RecipeError(f"data set {spec.name!r}: format {spec.format} needs fields = [input field, output field]")
        task.check_spec(spec)
        try:
            re.compile(spec.match)
        except re.error as error:
            raise RecipeError(f"data set {spec.name!r}: match {spec.match!r} is not a regular expression: {error}") from None
        for direction in spec.directions:
            try:
                source, target = parse_direction(direction)
            except ValueError as error:
                raise RecipeError(f"data set {spec.name!r}: {error}") from None
            if source not in spec.languages or target not in spec.languages:
                raise RecipeError(f"data set {spec.name!r}: direction {direction} needs languages {spec.languages}")
    return recipe


def _check_task_table(key: str, table: Any) -> dict[str, float]:
    """A table of task = number ([mix], [cooldown_mix], [token_dropout], [span_infilling])."""
    if not isinstance(table, dict):
        raise RecipeError(f"recipe key {key}: expected a table of task = number")
    for task, value in table.items():
        if task not in TASKS:
            raise RecipeError(f"unknown recipe key {key}.{task} (known: {', '.join(TASKS)})")
        _check_type(f"{key}.{task}", value, float)
    return {task: float(value) for task, value in table.items()}


def apply_override(raw: dict, assignment: str) -> None:
    """``train.max_steps=200`` -> raw["train"]["max_steps"] = 200 (value read as TOML, else as a string).

    A data set is addressed by its name: ``data.train.imdb.weight=0.15``."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise RecipeError(f"override {assignment!r} is not of the form section.key=value")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    *sections, last = key.split(".")
    table = raw
    for section in sections:
        if isinstance(table, list):
            table = next((entry for entry in table if isinstance(entry, dict) and entry.get("name") == section), None)
            if table is None:
                raise RecipeError(f"override {assignment!r}: no data set named {section}")
            continue
        table = table.setdefault(section, {})
        if not isinstance(table, (dict, list)):
            raise RecipeError(f"override {assignment!r}: {section} is not a table")
    if isinstance(table, list):
        raise RecipeError(f"override {assignment!r}: name the data set, e.g. {key.rsplit('.', 1)[0]}.NAME.{last}")
    table[last] = value


def load_recipe(path: Path, overrides: list[str] = ()) -> Recipe:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"recipe not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{path}: invalid TOML: {error}") from None
    for assignment in overrides:
        apply_override(raw, assignment)
    return recipe_from_dict(raw)
