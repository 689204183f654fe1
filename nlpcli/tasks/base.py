"""The interface every task of the shared model implements.

A task is one object (a ``Task`` subclass in its own module, listed in the
registry of nlpcli/tasks/__init__.py). It says what the task is called, the
token that asks the encoder for it, the data formats it trains from, how one
input becomes encoder ids (the same ``encode`` for training and inference),
what it adds to the model and to a checkpoint's config.json, and its training
objective. Training (nlpcli/training/) asks the task; it never tests a task's
name.

Two small bases hold what several tasks share: ``DecoderTask`` (the decoder
writes the output: translate, summarize) and ``EncoderTask`` (the output is read
off the encoder states by a small layer: answer, classify-sentiment, tag-entities).
"""
from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from nlpcli.textio import record_handler, records_from

if TYPE_CHECKING:  # torch is imported where a method needs it: reading the registry must stay light
    from nlpcli.batching import Pool
    from nlpcli.model import ModelConfig
    from nlpcli.tokenizer import Tokenizer

# cross_entropy's ignore_index: a target position that is not predicted (e.g.
# an entity word's pieces after its first)
IGNORE = -100


def language_token(language: str) -> str:
    return f"<2{language}>"


def parse_direction(direction: str) -> tuple[str, str]:
    """'en-de' -> ('en', 'de')"""
    source, sep, target = direction.partition("-")
    if not sep or not source or not target:
        raise ValueError(f"translation direction {direction!r} is not of the form SRC-TGT (e.g. en-de)")
    return source, target


@dataclass
class Generated:
    """One text the decoder wrote."""

    text: str
    score: float  # sequence log-probability (sum over the output tokens, </s> included)
    token_logprobs: list[float]
    tokens: list[int]
    pieces: list[str]  # the output tokens as SentencePiece pieces, </s> included

    def token_confidence(self) -> dict:
        """Per output token (</s> included) its piece and probability, for jsonl output."""
        return {"tokens": self.pieces, "token_probs": [round(math.exp(lp), 4) for lp in self.token_logprobs]}


@dataclass
class DevSet:
    """One dev set of one task, encoded as training encodes it; ``sources`` and
    ``references`` are kept for tasks that also score their output (translation: BLEU)."""

    name: str  # e.g. "multi30k-val.en-de"
    task: str
    pool: Pool
    direction: str = ""
    sources: tuple = ()
    references: tuple = ()


class Task(ABC):
    """One task of the shared model. Class attributes:

    ``name``     the command name, e.g. "classify-sentiment"; also the key in
                 recipes ([[data.train]] task = ..., [mix]) and in config.json "tasks"
    ``token``    the special token that starts the encoder input
    ``formats``  data format name -> reader(spec, path) -> examples (dicts; each
                 with a "carve_key" unless ``carve_key`` says otherwise)
    ``window``   encoder tokens of one training example (0: the recipe's train.max_length)
    """

    name: str
    token: str = ""
    formats: dict[str, Callable[[Any, Any], list[dict]]] = {}
    window: int = 0

    # ---- recipe and data --------------------------------------------------------
    def check_spec(self, spec) -> None:
        """Refuse (RecipeError) a data set of this task that lacks what it needs."""

    def read_examples(self, spec, path) -> list[dict]:
        return self.formats[spec.format](spec, path)

    def carve_key(self, spec) -> str:
        """The example field a set without a dev split is split by (a hash of it)."""
        return "carve_key"

    @abstractmethod
    def training_texts(self, spec, example: dict) -> Iterable[str]:
        """The text of one example, for training the tokenizer."""

    def special_tokens(self, recipe) -> list[str]:
        """The tokens this task adds to the vocabulary."""
        return [self.token]

    def training_window(self, recipe) -> int:
        """Most encoder tokens of one example."""
        return min(self.window or recipe.train.max_length, recipe.model.max_positions)

    def served(self, recipe) -> dict:
        """What a checkpoint trained on ``recipe`` records for this task in config.json "tasks"."""
        return {"window": self.training_window(recipe)}

    def data_entry(self, spec) -> dict:
        """What config.json's training "data" list says of a set beside its name, task, path and weight."""
        return {}

    def configure_heads(self, config: ModelConfig, trained: bool) -> None:
        """Switch the model's output layers for this task on (``trained``) or off."""

    # ---- encoding ---------------------------------------------------------------
    def encode(self, tokenizer: Tokenizer, text: str, window: int, token: str = "") -> tuple[list[int], bool]:
        """The encoder input, for training and inference alike: ``token`` (default:
        the task's) + the text's pieces, cut to ``window`` tokens + ``</s>``.
        Returns the ids and whether the text was cut."""
        return self.input_ids(tokenizer, tokenizer.encode(text), window, token)

    def input_ids(self, tokenizer: Tokenizer, pieces: list[int], window: int, token: str = "") -> tuple[list[int], bool]:
        """``encode`` of text already split into pieces (training encodes its texts in batches)."""
        room = window - 2
        return [tokenizer.token_id(token or self.token)] + pieces[:room] + [tokenizer.eos_id], len(pieces) > room

    @abstractmethod
    def pool(self, spec, examples: list[dict], tokenizer: Tokenizer, window: int, model_config: ModelConfig | None = None) -> Pool:
        """The training pairs (encoder input, target) of a set's examples. The
        model's opt-in word features (``model_config``) decide what some targets carry."""

    # ---- training objective -----------------------------------------------------
    @abstractmethod
    def target_padding(self, pad_id: int) -> int:
        """The value that pads a batch's targets."""

    @abstractmethod
    def prediction_count(self, tgt, pad_id: int) -> int:
        """How many predictions ``loss`` sums over in a batch."""

    @abstractmethod
    def loss(self, model, src, tgt, pad_id: int, label_smoothing: float):
        """The loss summed over the batch's predictions (``prediction_count`` of them)."""

    # ---- validation -------------------------------------------------------------
    def dev_sets(self, spec, examples: list[dict], tokenizer: Tokenizer, recipe) -> list[DevSet]:
        window = self.training_window(recipe)
        return [DevSet(spec.name, self.name, self.pool(spec, examples, tokenizer, window, recipe.model))]

    def dev_scores(self, dev: DevSet, model, tokenizer: Tokenizer, device: str, settings) -> dict:
        """Scores of the model's output on a dev set beside its loss (``settings``: GenerationSettings)."""
        return {}

    def write_dev_files(self, dev: DevSet, folder) -> None:
        """Write what a dev set's output is scored against into the run's dev/ folder."""

    # ---- inference --------------------------------------------------------------
    # what a record's input is in jsonl (the field read) and in the output records
    input_field: str = "text"
    # the warning for an input cut to the window (after "FILE, line N: ")
    too_long: str = "longer than the model's window ({window} tokens); read the beginning only"

    def runner(self, loaded, device: str, options: dict | None = None):
        """The task's engine on a loaded checkpoint (nlpcli.checkpoint.LoadedCheckpoint);
        ``options``: the task command's own options (e.g. translate's target language).
        A runner has a ``window``: the most encoder tokens of one input."""
        raise NotImplementedError(f"{self.name} has no runner")

    def items(self, run, warn, options: dict | None = None) -> tuple[Iterable, str]:
        """What the streaming driver feeds the handler, and the name of the source:
        the records of ``run`` (nlpcli.cli.tasks.TaskRun: texts, -i FILE or stdin)."""
        return records_from(run.texts, run.input, run.encoding_errors, warn)

    def streams(self, input_format: str) -> bool:
        """Whether records of this input format can be answered one by one as they are typed."""
        return True

    def run(self, runner, inputs: list, settings) -> tuple[list, list[bool]]:
        """A batch of inputs through the runner: per input its result (None for a
        blank one) and whether the input was cut to the window."""
        raise NotImplementedError(f"{self.name} has no runner")

    def output_lines(self, source, result, fmt: str) -> list[str]:
        """The output lines of one record in format ``fmt`` ("text" or "jsonl")."""
        raise NotImplementedError(f"{self.name} writes no output records")

    def attention(self, runner, source, result):
        """The attention map (nlpcli.attention_maps.AttentionMap) the result rests on, or None."""
        return None

    def scoring(self, hyp_paths: list[str], ref_paths: list[str]):
        """The task's evaluator: the system outputs ``hyp_paths`` and the references
        ``ref_paths`` (reference files, or the one gold file of a task scored against a
        gold set) read for the task's metric (nlpcli.evaluate.TaskScoring), which
        ``nlpcli evaluate TASK`` scores and prints with its signature."""
        raise NotImplementedError(f"{self.name} has no evaluator")

    def handler(self, runner, settings, fmt: str, input_format: str, source_name: str, warn, reporter=None):
        """The streaming driver's chunk handler (nlpcli.textio.process_records) for
        records of one input each: text lines, or jsonl records whose ``input_field``
        is the input. ``reporter`` (an AttentionReporter) gets each record's map."""
        return record_handler(
            lambda inputs: self.run(runner, inputs, settings), lambda source, result: self.output_lines(source, result, fmt),
            source_name, warn, field=self.input_field if input_format == "jsonl" else None,
            too_long=self.too_long.format(window=runner.window),
            after=reporter and (lambda record, source, result: reporter.report(
                record.line, source, self.attention(runner, source, result))))


def next_token_count(tgt, pad_id: int) -> int:
    """The decoder's predictions in a batch of targets ``<s> output </s>``: every token after ``<s>``."""
    return int(tgt[:, 1:].ne(pad_id).sum())


def next_token_loss(model, src, tgt, pad_id: int, label_smoothing: float):
    """The decoder's teacher-forced cross-entropy of each next token, summed over the batch."""
    import torch.nn.functional as F

    logits = model(src, tgt[:, :-1])
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1),
                           ignore_index=pad_id, label_smoothing=label_smoothing, reduction="sum")


class DecoderTask(Task):
    """A task whose output the decoder writes, token by token: the target is
    ``<s> output </s>`` and the loss is the cross-entropy of each next token.

    ``pool`` reads examples {"source": text, "target": text}: the source is cut
    to the window (its beginning carries most of the output), a target longer
    than the window is skipped."""

    def training_texts(self, spec, example: dict) -> Iterable[str]:
        return (example["source"], example["target"])

    def target_ids(self, tokenizer: Tokenizer, pieces: list[int]) -> list[int]:
        return [tokenizer.bos_id] + pieces + [tokenizer.eos_id]

    def pool(self, spec, examples, tokenizer, window, model_config=None):
        from nlpcli.batching import Pool

        sources = tokenizer.encode_batch([ex["source"] for ex in examples])
        targets = tokenizer.encode_batch([ex["target"] for ex in examples])
        pool = Pool(spec.name, [], [], spec.weight)
        for source, target in zip(sources, targets):
            if len(target) + 2 <= window:
                pool.sources.append(self.input_ids(tokenizer, source, window)[0])
                pool.targets.append(self.target_ids(tokenizer, target))
        return pool

    def target_padding(self, pad_id: int) -> int:
        return pad_id

    def prediction_count(self, tgt, pad_id: int) -> int:
        return next_token_count(tgt, pad_id)

    def loss(self, model, src, tgt, pad_id: int, label_smoothing: float):
        return next_token_loss(model, src, tgt, pad_id, label_smoothing)

    # ---- inference: one generated text per input text -----------------------------
    input_field = "source"
    output_field = "output"  # the generated text's jsonl field

    def runner(self, loaded, device: str, options: dict | None = None) -> TextGenerator:
        return TextGenerator(self, loaded.model, loaded.tokenizer, device, loaded.info.tasks.get(self.name, {}).get("window", 0))

    def run(self, runner: TextGenerator, inputs: list[str], settings) -> tuple[list[Generated | None], list[bool]]:
        return runner.run(inputs, settings)

    def output_lines(self, source: str, result: Generated | None, fmt: str) -> list[str]:
        """text: the output; jsonl: the input, the output, its score and each token's probability."""
        if fmt != "jsonl":
            return [result.text if result else ""]
        record = {self.input_field: source, self.output_field: result.text if result else "",
                  "score": round(result.score, 4) if result else None}
        if result is None:
            record["empty"] = True
        else:
            record.update(result.token_confidence())
        return [json.dumps(record, ensure_ascii=False)]

    def attention(self, runner: TextGenerator, source: str, result: Generated | None):
        """Cross-attention of the output's tokens over the input's."""
        return runner.attention(source, result) if result else None

    def scoring(self, hyp_paths: list[str], ref_paths: list[str]):
        """BLEU (sacrebleu's defaults) of output lines against one or more reference files."""
        from nlpcli.evaluate import SystemOutput, TaskScoring, read_translation
        from nlpcli.metrics import BLEU

        systems, references = read_translation(hyp_paths, ref_paths)
        per_record = list(zip(*references))
        return TaskScoring(BLEU(), references, [
            SystemOutput(path, system, [{self.output_field: h, "references": list(r)} for h, r in zip(system, per_record)])
            for path, system in zip(hyp_paths, systems)])


class TextGenerator:
    """A DecoderTask's runner: texts in, one generated text each, in input order.
    The encoder reads the task's ``encode`` of the text, cut to ``window``
    (default and most: the model's max_positions); a copy_attention model copies."""

    def __init__(self, task: DecoderTask, model, tokenizer: Tokenizer, device: str = "cpu", window: int = 0) -> None:
        self.task, self.model, self.tokenizer, self.device = task, model, tokenizer, device
        self.window = min(window or model.config.max_positions, model.config.max_positions)

    def run(self, texts: list[str], settings) -> tuple[list[Generated | None], list[bool]]:
        """Per text its output (None for a blank one) and whether it was cut to the window."""
        from nlpcli.decoding import generate

        settings = replace(settings, copy_source=self.model.config.copy_attention)
        results: list[Generated | None] = [None] * len(texts)
        truncated = [False] * len(texts)
        encoded = {}
        for index, text in enumerate(texts):
            if text.strip():
                encoded[index], truncated[index] = self.task.encode(self.tokenizer, text, self.window)
        tok = self.tokenizer
        hypotheses = generate(self.model, list(encoded.values()), settings, [tok.bos_id], tok.eos_id, tok.pad_id, self.device)
        for index, nbest in zip(encoded, hypotheses):
            best = nbest[0]
            results[index] = Generated(tok.decode(best.tokens), best.score, best.token_logprobs, best.tokens, tok.pieces(best.tokens))
        return results, truncated

    def attention(self, text: str, result: Generated):
        """Cross-attention of the output's tokens over the input's."""
        from nlpcli.attention_maps import cross_attention

        source_ids, _ = self.task.encode(self.tokenizer, text, self.window)
        return cross_attention(self.model, self.tokenizer, source_ids, result.tokens)


class EncoderTask(Task):
    """A task read off the encoder states by a small output layer: ``scores``
    gives a batch's scores and gold classes, the loss is their cross-entropy."""

    # the ModelConfig field that holds the task's calibration temperature (nlpcli/calibration.py)
    temperature_field: str = ""

    @abstractmethod
    def scores(self, model, src, tgt):
        """(scores, gold classes) of a batch: scores (..., classes), gold (...), IGNORE where nothing is predicted."""

    def target_padding(self, pad_id: int) -> int:
        return 0

    def prediction_count(self, tgt, pad_id: int) -> int:
        return tgt.size(0)

    def loss(self, model, src, tgt, pad_id: int, label_smoothing: float):
        import torch.nn.functional as F

        scores, gold = self.scores(model, src, tgt)
        return F.cross_entropy(scores.float().reshape(-1, scores.size(-1)), gold.reshape(-1), ignore_index=IGNORE, reduction="sum")
