"""The five task commands: each checks its own options and hands them to
``run_task``, the one path from a command's arguments to a task run (which a
registered task without a command of its own also takes: cli/registered.py)."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from nlpcli import console
from nlpcli.cli.options import (AnswerFormat, AttentionOut, BatchSize, Bf16, Checkpoint, Device, EncodingErrors,
                                EncodingErrorsOption, EntityFormat, EntityInputFormat, Head, Input, InputFormat, Int8,
                                Layer, Output, OutputFormat, QuestionFormat, Quiet, ShowAttention, Stream, TEXTS_HELP,
                                Threads, Words)
from nlpcli.cli.root import app, positive
from nlpcli.errors import InputError


def attention_reporter(show: bool, out: Optional[str], layer: str, head: str, words: bool):
    """An AttentionReporter when heatmaps are asked for, else a no-op context."""
    if not show and not out:
        return nullcontext()
    from nlpcli.heatmap import AttentionReporter

    return AttentionReporter(console.stderr if show else None, out, layer, head, words)


def load_for(task: str, checkpoint, device: str, threads, quiet: bool, int8: bool = False, bf16: bool | None = None):
    """Settle console, threads and device, load the checkpoint and check it serves ``task``.
    ``bf16``: --bf16 (True), --fp32 (False) or neither (None: the checkpoint's compute dtype for the task)."""
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.runtime import cpu_has_bf16, quantize_int8, runs_in_bf16, select_device, set_threads, to_bfloat16
    from nlpcli.tasks import check_task

    if bf16 and int8:  # refused before the checkpoint is loaded
        raise InputError("--bf16 and --int8 are two ways to speed up the model: give one of them")
    console.set_quiet(quiet)
    set_threads(threads)
    device = select_device(device)
    loaded = load_checkpoint(checkpoint, device)
    check_task(loaded.info, task)
    if bf16 and device == "cpu" and not cpu_has_bf16():
        console.warn("--bf16: this CPU has no bfloat16 matrix instructions (AVX512-BF16, AMX), "
                     "so bfloat16 is emulated and slower than float32 here")
    if runs_in_bf16(bf16, loaded.info.compute_dtype(task), device, int8):
        loaded.model = to_bfloat16(loaded.model)
    if int8:
        loaded.model = quantize_int8(loaded.model, device)
    return loaded, device


def is_interactive(texts, input: str | None, stream: bool) -> bool:
    from nlpcli.textio import stdin_is_interactive

    return stream or (not texts and input in (None, "-") and stdin_is_interactive())


def progress_bar(label: str, texts, input: str | None, output: str | None, stream: bool):
    """A transient progress bar on stderr, only where it cannot share a line with
    typed text or output: not for texts from arguments or a terminal, nor while
    the output goes to the terminal."""
    from nlpcli.textio import stdout_is_terminal

    to_terminal = output in (None, "-") and stdout_is_terminal()
    return console.progress(label, shown=not texts and not is_interactive(texts, input, stream) and not to_terminal)


@dataclass
class TaskRun:
    """The options every task command shares: where the records come from and go,
    their formats, how the model runs and the attention maps asked for."""

    texts: Optional[list[str]] = None
    input: Optional[str] = None
    output: Optional[str] = None
    input_format: str = "text"
    format: str = "text"
    batch_size: int = 32
    checkpoint: Optional[Path] = None
    device: str = "auto"
    threads: Optional[int] = None
    stream: bool = False
    quiet: bool = False
    encoding_errors: str = "strict"
    show_attention: bool = False
    attention_out: Optional[str] = None
    layer: str = "last"
    head: str = "mean"
    words: bool = False
    int8: bool = False
    bf16: Optional[bool] = None  # None: the checkpoint's compute dtype for the task

    @classmethod
    def from_arguments(cls, arguments: dict, **given) -> "TaskRun":
        """The shared options out of a command's arguments (its ``locals()``), choices
        as their values; ``given`` fields override (answer's worked-out input format)."""
        values = {f.name: arguments[f.name] for f in fields(cls) if f.name in arguments}
        values = {name: getattr(value, "value", value) for name, value in values.items()}
        return cls(**{**values, **given})


def run_task(task, run: TaskRun, settings, label: str = "running", options: dict | None = None) -> int:
    """Run a task (nlpcli.tasks.Task) as its command does: load the checkpoint (it must
    serve the task), build the task's runner (``options``: the command's own), and stream
    the records through the task's chunk handler to the output, in input order.
    ``settings`` (GenerationSettings) carry the batch size and, for tasks that decode, the
    search. Returns the number of records."""
    from nlpcli.textio import OutputWriter, process_records

    positive("--batch-size", run.batch_size)
    loaded, device = load_for(task.name, run.checkpoint, run.device, run.threads, run.quiet, run.int8, run.bf16)
    runner = task.runner(loaded, device, options)
    items, name = task.items(run, console.warn, options)
    stream = run.stream and task.streams(run.input_format)
    interactive = is_interactive(run.texts, run.input, stream) and task.streams(run.input_format)
    if interactive:  # each record answered as soon as it is read
        settings = replace(settings, batch_size=1)
    with OutputWriter(run.output, run.input) as writer, progress_bar(label, run.texts, run.input, run.output, stream) as update, \
            attention_reporter(run.show_attention, run.attention_out, run.layer, run.head, run.words) as reporter:
        handler = task.handler(runner, settings, run.format, run.input_format, name, console.warn, reporter)
        return process_records(items, writer, handler, 1 if interactive else 16 * run.batch_size, None if interactive else update)


@app.command()
def translate(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Sentences to translate (default: read -i FILE or stdin, one per line).")] = None,
    input: Input = None,
    output: Output = None,
    src: Annotated[Optional[str], typer.Option("--src", help="Source language (optional; checked against the checkpoint's directions).")] = None,
    tgt: Annotated[str, typer.Option("--tgt", help="Target language.")] = "de",
    beam: Annotated[int, typer.Option("--beam", help="Beam size (1 = greedy).")] = 4,
    n_best: Annotated[int, typer.Option("--n-best", help="Hypotheses per sentence (text: Moses 'i ||| text ||| score' lines).")] = 1,
    max_len: Annotated[Optional[int], typer.Option("--max-len", help="Most target tokens per sentence [default: 1.5 x source + 10].")] = None,
    batch_size: BatchSize = 32,
    format: Annotated[OutputFormat, typer.Option("--format", help="text, or jsonl with source, translation and score (log-probability).")] = OutputFormat.text,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    threads: Threads = None,
    stream: Stream = False,
    quiet: Quiet = False,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    show_attention: ShowAttention = False,
    attention_out: AttentionOut = None,
    layer: Layer = "last",
    head: Head = "mean",
    words: Words = False,
    int8: Int8 = False,
    bf16: Bf16 = None,
    alignments: Annotated[bool, typer.Option("--alignments", help="Append word alignments from cross-attention (text: ' ||| 0-0 1-1'; jsonl: \"alignments\").")] = False,
    shortlist: Annotated[bool, typer.Option("--shortlist/--no-shortlist", help="Score only the target pieces likely for each batch, where the checkpoint has a vocabulary shortlist (faster).")] = True,
) -> None:
    """Translate sentences, one output line per input line, in input order."""
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks import TASKS

    settings = GenerationSettings(
        beam=positive("--beam", beam), n_best=positive("--n-best", n_best),
        max_len=0 if max_len is None else positive("--max-len", max_len), batch_size=positive("--batch-size", batch_size),
    )
    if n_best > beam:
        raise InputError(f"--n-best {n_best} cannot exceed --beam {beam}")
    if alignments and n_best > 1 and format == OutputFormat.text:
        raise InputError("--alignments goes with one hypothesis per line (drop --n-best or use --format jsonl)")
    run_task(TASKS["translate"], TaskRun.from_arguments(locals()),
             settings, "translating", {"source": src, "target": tgt, "alignments": alignments, "shortlist": shortlist})


@app.command()
def summarize(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Documents to summarize (default: read -i FILE or stdin, one per line).")] = None,
    input: Input = None,
    output: Output = None,
    input_format: Annotated[InputFormat, typer.Option("--input-format", help="text (one document a line) or jsonl (a \"document\" field).")] = InputFormat.text,
    format: Annotated[OutputFormat, typer.Option("--format", help="text, or jsonl with document, summary and score.")] = OutputFormat.text,
    beam: Annotated[int, typer.Option("--beam", help="Beam size (1 = greedy).")] = 4,
    max_len: Annotated[int, typer.Option("--max-len", help="Most summary tokens.")] = 48,
    min_len: Annotated[int, typer.Option("--min-len", help="Fewest summary tokens.")] = 0,
    no_repeat_ngram: Annotated[int, typer.Option("--no-repeat-ngram", help="Forbid repeating an n-gram of this size (0: allow).")] = 3,
    batch_size: BatchSize = 32,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    threads: Threads = None,
    stream: Stream = False,
    quiet: Quiet = False,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    show_attention: ShowAttention = False,
    attention_out: AttentionOut = None,
    layer: Layer = "last",
    head: Head = "mean",
    words: Words = False,
    int8: Int8 = False,
    bf16: Bf16 = None,
) -> None:
    """Summarize documents, one summary line per input line, in input order."""
    from nlpcli.decoding import Constraints, GenerationSettings
    from nlpcli.tasks import TASKS

    if min_len < 0 or no_repeat_ngram < 0:
        raise InputError("--min-len and --no-repeat-ngram must be 0 or more")
    if min_len > max_len:
        raise InputError(f"--min-len {min_len} cannot exceed --max-len {max_len}")
    settings = GenerationSettings(beam=positive("--beam", beam), max_len=positive("--max-len", max_len),
                                  batch_size=positive("--batch-size", batch_size),
                                  constraints=Constraints(min_len=min_len, no_repeat_ngram=no_repeat_ngram))
    run_task(TASKS["summarize"], TaskRun.from_arguments(locals()),
             settings, "summarizing")


@app.command()
def answer(
    questions: Annotated[Optional[list[str]], typer.Argument(help="Questions about --context (default: read -i FILE or stdin).")] = None,
    context: Annotated[Optional[str], typer.Option("--context", help="The text to answer from: the name of a file to read, or else the text itself.")] = None,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Questions: lines (with --context), jsonl {id, context, question}, or a SQuAD v1.1 .json file.")] = None,
    output: Output = None,
    input_format: Annotated[QuestionFormat, typer.Option("--input-format", help="auto: text with --context, squad for a .json file, else jsonl.")] = QuestionFormat.auto,
    format: Annotated[AnswerFormat, typer.Option("--format", help="text (the answer), jsonl {id, question, answer, score, start, end}, or squad ({id: answer} for the official script).")] = AnswerFormat.text,
    batch_size: BatchSize = 32,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    threads: Threads = None,
    stream: Stream = False,
    quiet: Quiet = False,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    show_attention: ShowAttention = False,
    attention_out: AttentionOut = None,
    layer: Layer = "last",
    head: Head = "mean",
    words: Words = False,
    int8: Int8 = False,
    bf16: Bf16 = None,
) -> None:
    """Answer questions with a span of the given context."""
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks import TASKS
    from nlpcli.tasks.answer import question_format

    positive("--batch-size", batch_size)
    kind = question_format(input_format.value, context, questions, input)
    if kind == "text" and context is None:
        raise InputError("questions as text need --context (or give -i a jsonl or SQuAD file)")
    run_task(TASKS["answer"], TaskRun.from_arguments(locals(), texts=questions, input_format=kind),
             GenerationSettings(batch_size=batch_size), "answering", {"context": context})


@app.command("classify-sentiment")
def classify_sentiment(
    texts: Annotated[Optional[list[str]], typer.Argument(help=TEXTS_HELP)] = None,
    input: Input = None,
    output: Output = None,
    input_format: Annotated[InputFormat, typer.Option("--input-format", help="text (one text a line) or jsonl (a \"text\" field).")] = InputFormat.text,
    format: Annotated[OutputFormat, typer.Option("--format", help="text (label<TAB>probability) or jsonl {text, label, score}.")] = OutputFormat.text,
    batch_size: BatchSize = 32,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    threads: Threads = None,
    stream: Stream = False,
    quiet: Quiet = False,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    show_attention: ShowAttention = False,
    attention_out: AttentionOut = None,
    layer: Layer = "last",
    head: Head = "mean",
    words: Words = False,
    int8: Int8 = False,
    bf16: Bf16 = None,
) -> None:
    """Label each text positive or negative, with the label's probability."""
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks import TASKS

    run_task(TASKS["classify-sentiment"], TaskRun.from_arguments(locals()),
             GenerationSettings(batch_size=positive("--batch-size", batch_size)), "classifying")


@app.command("tag-entities")
def tag_entities(
    texts: Annotated[Optional[list[str]], typer.Argument(help=TEXTS_HELP)] = None,
    input: Input = None,
    output: Output = None,
    input_format: Annotated[EntityInputFormat, typer.Option("--input-format", help="text (raw lines) or conll (a token a line, first column; output lines up with the input).")] = EntityInputFormat.text,
    format: Annotated[EntityFormat, typer.Option("--format", help="inline ([PER John] ...), jsonl {text, entities}, or conll (token<TAB>tag).")] = EntityFormat.inline,
    batch_size: BatchSize = 32,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    threads: Threads = None,
    stream: Stream = False,
    quiet: Quiet = False,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    show_attention: ShowAttention = False,
    attention_out: AttentionOut = None,
    layer: Layer = "last",
    head: Head = "mean",
    words: Words = False,
    int8: Int8 = False,
    bf16: Bf16 = None,
) -> None:
    """Find PER, ORG, LOC and MISC entities."""
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks import TASKS

    run_task(TASKS["tag-entities"], TaskRun.from_arguments(locals()),
             GenerationSettings(batch_size=positive("--batch-size", batch_size)), "tagging")
