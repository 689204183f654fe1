"""The five task commands: each checks its own options, loads the checkpoint and
hands the records to its task's library call."""
from __future__ import annotations

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
    from contextlib import nullcontext

    if not show and not out:
        return nullcontext()
    from nlpcli.heatmap import AttentionReporter

    return AttentionReporter(console.stderr if show else None, out, layer, head, words)


def load_for(task: str, checkpoint, device: str, threads, quiet: bool, int8: bool = False, bf16: bool = False):
    """Settle console, threads and device, load the checkpoint and check it serves ``task``."""
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.runtime import quantize_int8, select_device, set_threads, to_bfloat16
    from nlpcli.tasks import check_task

    if bf16 and int8:  # refused before the checkpoint is loaded
        raise InputError("--bf16 and --int8 are two ways to speed up the model: give one of them")
    console.set_quiet(quiet)
    set_threads(threads)
    device = select_device(device)
    loaded = load_checkpoint(checkpoint, device)
    check_task(loaded.info, task)
    if bf16:
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


def run_records(texts, input, output, encoding_errors: EncodingErrors, stream: bool, batch_size: int, label: str,
                make_handler, reporter) -> None:
    """Records from arguments, a file or stdin, through ``make_handler(source name,
    reporter)``'s chunk handler, to the output in input order."""
    from nlpcli.textio import OutputWriter, process_records, records_from

    records, name = records_from(texts, input, encoding_errors.value, console.warn)
    interactive = is_interactive(texts, input, stream)
    with OutputWriter(output, input) as writer, progress_bar(label, texts, input, output, stream) as update, reporter as report:
        process_records(records, writer, make_handler(name, report), 1 if interactive else 16 * batch_size,
                        None if interactive else update)


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
    bf16: Bf16 = False,
    alignments: Annotated[bool, typer.Option("--alignments", help="Append word alignments from cross-attention (text: ' ||| 0-0 1-1'; jsonl: \"alignments\").")] = False,
) -> None:
    """Translate sentences, one output line per input line, in input order."""
    from nlpcli.decoding import GenerationSettings
    from nlpcli.textio import OutputWriter, records_from
    from nlpcli.translate import Translator, check_direction, translate_stream

    settings = GenerationSettings(
        beam=positive("--beam", beam), n_best=positive("--n-best", n_best),
        max_len=0 if max_len is None else positive("--max-len", max_len), batch_size=positive("--batch-size", batch_size),
    )
    if n_best > beam:
        raise InputError(f"--n-best {n_best} cannot exceed --beam {beam}")
    loaded, device = load_for("translate", checkpoint, device, threads, quiet, int8, bf16)
    check_direction(loaded.info, src, tgt)
    records, name = records_from(texts, input, encoding_errors.value, console.warn)
    interactive = is_interactive(texts, input, stream)
    translator = Translator(loaded.model, loaded.tokenizer, device, loaded.info.tasks["translate"].get("style", "nlpcli"), src)
    if alignments and n_best > 1 and format == OutputFormat.text:
        raise InputError("--alignments goes with one hypothesis per line (drop --n-best or use --format jsonl)")
    with OutputWriter(output, input) as writer, progress_bar("translating", texts, input, output, stream) as update, \
            attention_reporter(show_attention, attention_out, layer, head, words) as reporter:
        translate_stream(translator, records, writer, tgt, settings, format.value,
                         chunk_size=1 if interactive else 16 * batch_size, source_name=name, warn=console.warn,
                         on_progress=None if interactive else update, reporter=reporter, with_alignments=alignments)


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
    bf16: Bf16 = False,
) -> None:
    """Summarize documents, one summary line per input line, in input order."""
    from nlpcli.decoding import Constraints, GenerationSettings
    from nlpcli.summarize import Summarizer, summary_handler

    if min_len < 0 or no_repeat_ngram < 0:
        raise InputError("--min-len and --no-repeat-ngram must be 0 or more")
    if min_len > max_len:
        raise InputError(f"--min-len {min_len} cannot exceed --max-len {max_len}")
    settings = GenerationSettings(beam=positive("--beam", beam), max_len=positive("--max-len", max_len),
                                  batch_size=positive("--batch-size", batch_size),
                                  constraints=Constraints(min_len=min_len, no_repeat_ngram=no_repeat_ngram))
    loaded, device = load_for("summarize", checkpoint, device, threads, quiet, int8, bf16)
    summarizer = Summarizer(loaded.model, loaded.tokenizer, device, loaded.info.tasks["summarize"].get("window", 0))
    run_records(texts, input, output, encoding_errors, stream, batch_size, "summarizing",
                lambda name, report: summary_handler(summarizer, settings, format.value, input_format.value, name, console.warn, report),
                attention_reporter(show_attention, attention_out, layer, head, words))


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
    bf16: Bf16 = False,
) -> None:
    """Answer questions with a span of the given context."""
    from nlpcli.answer import (QuestionAnswerer, answer_questions, question_format, question_records, read_context,
                               squad_question_records)
    from nlpcli.textio import OutputWriter, records_from

    positive("--batch-size", batch_size)
    kind = question_format(input_format.value, context, questions, input)
    if kind == "text" and context is None:
        raise InputError("questions as text need --context (or give -i a jsonl or SQuAD file)")
    loaded, device = load_for("answer", checkpoint, device, threads, quiet, int8, bf16)
    served = loaded.info.tasks["answer"]
    answerer = QuestionAnswerer(loaded.model, loaded.tokenizer, device, served.get("window", 256), served.get("stride", 128))
    if kind == "squad":
        if not input or input == "-":
            raise InputError("--input-format squad needs -i FILE (a SQuAD v1.1 JSON file)")
        items, name = squad_question_records(input), input
    else:
        records, name = records_from(questions, input, encoding_errors.value, console.warn)
        items = question_records(records, kind, read_context(context, console.warn) if context is not None else None, name)
    interactive = is_interactive(questions, input, stream) and kind != "squad"
    with OutputWriter(output, input) as writer, progress_bar("answering", questions, input, output, stream) as update, \
            attention_reporter(show_attention, attention_out, layer, head, words) as reporter:
        answer_questions(answerer, items, writer, format.value, 1 if interactive else batch_size,
                         None if interactive else update, reporter, chunk_size=1 if interactive else None)


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
    bf16: Bf16 = False,
) -> None:
    """Label each text positive or negative, with the label's probability."""
    from nlpcli.sentiment import SentimentClassifier, sentiment_handler

    positive("--batch-size", batch_size)
    loaded, device = load_for("classify-sentiment", checkpoint, device, threads, quiet, int8, bf16)
    classifier = SentimentClassifier(loaded.model, loaded.tokenizer, device)
    run_records(texts, input, output, encoding_errors, stream, batch_size, "classifying",
                lambda name, report: sentiment_handler(classifier, batch_size, format.value, input_format.value, name, console.warn, report),
                attention_reporter(show_attention, attention_out, layer, head, words))


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
    bf16: Bf16 = False,
) -> None:
    """Find PER, ORG, LOC and MISC entities."""
    from nlpcli.entities import EntityTagger, entity_handler, tag_conll_stream
    from nlpcli.textio import OutputWriter, records_from

    positive("--batch-size", batch_size)
    loaded, device = load_for("tag-entities", checkpoint, device, threads, quiet, int8, bf16)
    tagger = EntityTagger(loaded.model, loaded.tokenizer, device)
    reporter = attention_reporter(show_attention, attention_out, layer, head, words)
    if input_format == EntityInputFormat.conll:
        records, name = records_from(texts, input, encoding_errors.value, console.warn)
        with OutputWriter(output, input) as writer, progress_bar("tagging", texts, input, output, False) as update, reporter as report:
            tag_conll_stream(tagger, records, writer, batch_size, name, console.warn, update, report)
        return
    fmt = "inline" if format == EntityFormat.text else format.value
    run_records(texts, input, output, encoding_errors, stream, batch_size, "tagging",
                lambda name, report: entity_handler(tagger, batch_size, fmt, name, console.warn, report), reporter)
