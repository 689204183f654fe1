"""The ``nlpcli`` command line: parses arguments and calls the library.

Exit codes: 0 success, 1 input/checkpoint/runtime error (one line on stderr),
2 usage error, 130 interrupted. ``--debug`` or NLPCLI_DEBUG=1 shows tracebacks.
"""
from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from nlpcli import console
from nlpcli.errors import InputError, Interrupted, NlpcliError, OutputClosed, OutputError

app = typer.Typer(
    help="Translate, summarize, answer, classify sentiment and tag entities with one attention encoder-decoder Transformer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
evaluate_app = typer.Typer(help="Score system output with the standard metric of each task.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


class OutputFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


class EncodingErrors(str, Enum):
    strict = "strict"
    replace = "replace"


CHECKPOINT_OPTION = typer.Option(None, "--checkpoint", "-c", help="Checkpoint folder (default: the shipped one, or $NLPCLI_CHECKPOINT).")
DEVICE_OPTION = typer.Option("auto", "--device", help="auto, cpu or cuda[:N].")


def positive_minutes(value: float | None) -> float:
    if value is not None and not value > 0:
        raise InputError(f"--max-time must be a positive number of minutes, got {value}")
    return value or 0.0


def positive(name: str, value: int) -> int:
    if value < 1:
        raise InputError(f"{name} must be at least 1, got {value}")
    return value


def print_version() -> None:
    from nlpcli import __version__

    print(f"nlpcli {__version__}")
    raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=lambda shown: shown and print_version(),
                                 help="Print nlpcli's version and exit."),
) -> None:
    if debug:
        os.environ["NLPCLI_DEBUG"] = "1"


class InputFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


TEXTS_HELP = "Texts (default: read -i FILE or stdin, one per line)."
INPUT_OPTION = typer.Option(None, "--input", "-i", help="Input file, one record per line ('-' for stdin).")
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="Output file (default: stdout).")
BATCH_OPTION = typer.Option(32, "--batch-size", help="Records run through the model together.")
THREADS_OPTION = typer.Option(None, "--threads", help="CPU threads (default: PyTorch's choice).")
STREAM_OPTION = typer.Option(False, "--stream", help="Answer line by line (automatic when stdin is a terminal).")
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No warnings.")
ENCODING_OPTION = typer.Option(EncodingErrors.strict, "--encoding-errors", help="strict: invalid UTF-8 is an error; replace: U+FFFD and a warning.")
SHOW_ATTENTION_OPTION = typer.Option(False, "--show-attention", help="Draw each record's attention heatmap on stderr.")
ATTENTION_OUT_OPTION = typer.Option(None, "--attention-out", help="Write attention maps to .json, .html, .png or .svg; {i} in the name: one file per record.")
LAYER_OPTION = typer.Option("last", "--layer", help="Layer of the heatmap: N, last, all or mean.")
HEAD_OPTION = typer.Option("mean", "--head", help="Head of the heatmap: N or mean.")
WORDS_OPTION = typer.Option(False, "--words", help="Heatmaps over words (SentencePiece pieces merged).")
INT8_OPTION = typer.Option(False, "--int8", help="Int8 linear layers (dynamic quantization): faster on CPUs.")
BF16_OPTION = typer.Option(False, "--bf16", help="bfloat16 weights and activations: faster where the CPU has bf16 instructions.")


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
    texts: Optional[list[str]] = typer.Argument(None, help="Sentences to translate (default: read -i FILE or stdin, one per line)."),
    input: Optional[str] = INPUT_OPTION,
    output: Optional[str] = OUTPUT_OPTION,
    src: Optional[str] = typer.Option(None, "--src", help="Source language (optional; checked against the checkpoint's directions)."),
    tgt: str = typer.Option("de", "--tgt", help="Target language."),
    beam: int = typer.Option(4, "--beam", help="Beam size (1 = greedy)."),
    n_best: int = typer.Option(1, "--n-best", help="Hypotheses per sentence (text: Moses 'i ||| text ||| score' lines)."),
    max_len: Optional[int] = typer.Option(None, "--max-len", help="Most target tokens per sentence [default: 1.5 x source + 10]."),
    batch_size: int = BATCH_OPTION,
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text, or jsonl with source, translation and score (log-probability)."),
    checkpoint: Optional[Path] = CHECKPOINT_OPTION,
    device: str = DEVICE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    stream: bool = STREAM_OPTION,
    quiet: bool = QUIET_OPTION,
    encoding_errors: EncodingErrors = ENCODING_OPTION,
    show_attention: bool = SHOW_ATTENTION_OPTION,
    attention_out: Optional[str] = ATTENTION_OUT_OPTION,
    layer: str = LAYER_OPTION,
    head: str = HEAD_OPTION,
    words: bool = WORDS_OPTION,
    int8: bool = INT8_OPTION,
    bf16: bool = BF16_OPTION,
    alignments: bool = typer.Option(False, "--alignments", help="Append word alignments from cross-attention (text: ' ||| 0-0 1-1'; jsonl: \"alignments\")."),
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
    texts: Optional[list[str]] = typer.Argument(None, help="Documents to summarize (default: read -i FILE or stdin, one per line)."),
    input: Optional[str] = INPUT_OPTION,
    output: Optional[str] = OUTPUT_OPTION,
    input_format: InputFormat = typer.Option(InputFormat.text, "--input-format", help="text (one document a line) or jsonl (a \"document\" field)."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text, or jsonl with document, summary and score."),
    beam: int = typer.Option(4, "--beam", help="Beam size (1 = greedy)."),
    max_len: int = typer.Option(48, "--max-len", help="Most summary tokens."),
    min_len: int = typer.Option(0, "--min-len", help="Fewest summary tokens."),
    no_repeat_ngram: int = typer.Option(3, "--no-repeat-ngram", help="Forbid repeating an n-gram of this size (0: allow)."),
    batch_size: int = BATCH_OPTION,
    checkpoint: Optional[Path] = CHECKPOINT_OPTION,
    device: str = DEVICE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    stream: bool = STREAM_OPTION,
    quiet: bool = QUIET_OPTION,
    encoding_errors: EncodingErrors = ENCODING_OPTION,
    show_attention: bool = SHOW_ATTENTION_OPTION,
    attention_out: Optional[str] = ATTENTION_OUT_OPTION,
    layer: str = LAYER_OPTION,
    head: str = HEAD_OPTION,
    words: bool = WORDS_OPTION,
    int8: bool = INT8_OPTION,
    bf16: bool = BF16_OPTION,
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


class AnswerFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"
    squad = "squad"


class QuestionFormat(str, Enum):
    auto = "auto"
    text = "text"
    jsonl = "jsonl"
    squad = "squad"


@app.command()
def answer(
    questions: Optional[list[str]] = typer.Argument(None, help="Questions about --context (default: read -i FILE or stdin)."),
    context: Optional[str] = typer.Option(None, "--context", help="The text to answer from: the name of a file to read, or else the text itself."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Questions: lines (with --context), jsonl {id, context, question}, or a SQuAD v1.1 .json file."),
    output: Optional[str] = OUTPUT_OPTION,
    input_format: QuestionFormat = typer.Option(QuestionFormat.auto, "--input-format", help="auto: text with --context, squad for a .json file, else jsonl."),
    format: AnswerFormat = typer.Option(AnswerFormat.text, "--format", help="text (the answer), jsonl {id, question, answer, score, start, end}, or squad ({id: answer} for the official script)."),
    batch_size: int = BATCH_OPTION,
    checkpoint: Optional[Path] = CHECKPOINT_OPTION,
    device: str = DEVICE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    stream: bool = STREAM_OPTION,
    quiet: bool = QUIET_OPTION,
    encoding_errors: EncodingErrors = ENCODING_OPTION,
    show_attention: bool = SHOW_ATTENTION_OPTION,
    attention_out: Optional[str] = ATTENTION_OUT_OPTION,
    layer: str = LAYER_OPTION,
    head: str = HEAD_OPTION,
    words: bool = WORDS_OPTION,
    int8: bool = INT8_OPTION,
    bf16: bool = BF16_OPTION,
) -> None:
    """Answer questions with a span of the given context."""
    from nlpcli.answer import QuestionAnswerer, answer_questions, question_records, read_context, squad_question_records
    from nlpcli.textio import OutputWriter, records_from

    positive("--batch-size", batch_size)
    kind = input_format.value
    if kind == "auto":
        kind = "text" if context is not None or questions else "squad" if (input or "").endswith(".json") else "jsonl"
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
    texts: Optional[list[str]] = typer.Argument(None, help=TEXTS_HELP),
    input: Optional[str] = INPUT_OPTION,
    output: Optional[str] = OUTPUT_OPTION,
    input_format: InputFormat = typer.Option(InputFormat.text, "--input-format", help="text (one text a line) or jsonl (a \"text\" field)."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text (label<TAB>probability) or jsonl {text, label, score}."),
    batch_size: int = BATCH_OPTION,
    checkpoint: Optional[Path] = CHECKPOINT_OPTION,
    device: str = DEVICE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    stream: bool = STREAM_OPTION,
    quiet: bool = QUIET_OPTION,
    encoding_errors: EncodingErrors = ENCODING_OPTION,
    show_attention: bool = SHOW_ATTENTION_OPTION,
    attention_out: Optional[str] = ATTENTION_OUT_OPTION,
    layer: str = LAYER_OPTION,
    head: str = HEAD_OPTION,
    words: bool = WORDS_OPTION,
    int8: bool = INT8_OPTION,
    bf16: bool = BF16_OPTION,
) -> None:
    """Label each text positive or negative, with the label's probability."""
    from nlpcli.sentiment import SentimentClassifier, sentiment_handler

    positive("--batch-size", batch_size)
    loaded, device = load_for("classify-sentiment", checkpoint, device, threads, quiet, int8, bf16)
    classifier = SentimentClassifier(loaded.model, loaded.tokenizer, device)
    run_records(texts, input, output, encoding_errors, stream, batch_size, "classifying",
                lambda name, report: sentiment_handler(classifier, batch_size, format.value, input_format.value, name, console.warn, report),
                attention_reporter(show_attention, attention_out, layer, head, words))


class EntityFormat(str, Enum):
    inline = "inline"
    text = "text"  # the same as inline
    jsonl = "jsonl"
    conll = "conll"


class EntityInputFormat(str, Enum):
    text = "text"
    conll = "conll"


@app.command("tag-entities")
def tag_entities(
    texts: Optional[list[str]] = typer.Argument(None, help=TEXTS_HELP),
    input: Optional[str] = INPUT_OPTION,
    output: Optional[str] = OUTPUT_OPTION,
    input_format: EntityInputFormat = typer.Option(EntityInputFormat.text, "--input-format", help="text (raw lines) or conll (a token a line, first column; output lines up with the input)."),
    format: EntityFormat = typer.Option(EntityFormat.inline, "--format", help="inline ([PER John] ...), jsonl {text, entities}, or conll (token<TAB>tag)."),
    batch_size: int = BATCH_OPTION,
    checkpoint: Optional[Path] = CHECKPOINT_OPTION,
    device: str = DEVICE_OPTION,
    threads: Optional[int] = THREADS_OPTION,
    stream: bool = STREAM_OPTION,
    quiet: bool = QUIET_OPTION,
    encoding_errors: EncodingErrors = ENCODING_OPTION,
    show_attention: bool = SHOW_ATTENTION_OPTION,
    attention_out: Optional[str] = ATTENTION_OUT_OPTION,
    layer: str = LAYER_OPTION,
    head: str = HEAD_OPTION,
    words: bool = WORDS_OPTION,
    int8: bool = INT8_OPTION,
    bf16: bool = BF16_OPTION,
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


# ---- evaluate: the options every evaluate command shares, defined once ----------------
EVAL_JSON_OPTION = typer.Option(False, "--json", help="One JSON object: every figure, its interval and the signature.")
CONFIDENCE_OPTION = typer.Option(False, "--confidence", help="A bootstrap 95% confidence interval for every figure.")
CONFIDENCE_N_OPTION = typer.Option(1000, "--confidence-n", help="Bootstrap resamples for --confidence.")
SEED_OPTION = typer.Option(12345, "--seed", help="Seed of the resampling (12345, sacrebleu's default).")
PAIRED_AR_OPTION = typer.Option(False, "--paired-ar/--paired-bs", help="Several systems: approximate randomization, or paired bootstrap resampling (default).")
PAIRED_N_OPTION = typer.Option(None, "--paired-n", help="Paired bootstrap resamples [1,000] or randomization trials [10,000].")
PER_RECORD_OPTION = typer.Option(None, "--per-record", help="Write each record's own scores to this jsonl file.")
WORST_OPTION = typer.Option(0, "--worst", help="Also show the N lowest-scoring records.")
CALIBRATION_OPTION = typer.Option(False, "--calibration", help="Expected calibration error of the predictions' probabilities.")
CALIBRATION_BINS_OPTION = typer.Option(10, "--calibration-bins", help="Equal-width confidence bins for --calibration.")
RELIABILITY_PLOT_OPTION = typer.Option(None, "--reliability-plot", help="With --calibration: write a reliability diagram (.png; needs nlpcli[plot]).")
EVAL_CHECKPOINT_OPTION = typer.Option(None, "--checkpoint", "-c", help="Run this checkpoint on the inputs and score its output; the task command's own options pass through.")
KEEP_OUTPUT_OPTION = typer.Option(None, "--keep-output", help="With --checkpoint: keep the system output in this file.")
SOURCE_OPTION = typer.Option(None, "--source", help="With --checkpoint: the input file the model runs on.")
RUN_AND_SCORE = {"allow_extra_args": True, "ignore_unknown_options": True}


def evaluation_options(confidence: bool, confidence_n: int, seed: int, paired_ar: bool, paired_n: Optional[int],
                       per_record: Optional[str], worst: int, calibration: bool = False, calibration_bins: int = 10,
                       reliability_plot: Optional[str] = None):
    from nlpcli.evaluate import EvaluationOptions

    return EvaluationOptions(confidence, confidence_n, seed, "ar" if paired_ar else "bs", paired_n, per_record, worst,
                             calibration, calibration_bins, reliability_plot)


def run_task_command(arguments: list[str]) -> None:
    """Run a task command in this process exactly as ``nlpcli ARGUMENTS`` runs it."""
    code = typer.main.get_command(app).main(args=arguments, prog_name="nlpcli", standalone_mode=False)
    if isinstance(code, int) and code:
        raise typer.Exit(code)


def needed(value: Optional[str], option: str, task: str) -> str:
    if not value:
        raise InputError(f"evaluate {task} --checkpoint needs {option} FILE")
    return value


@contextmanager
def systems_to_score(ctx: typer.Context, given: list[str], checkpoint: Optional[Path], keep_output: Optional[str],
                     task_arguments):
    """The system outputs to score and their names: the files given (more may follow the
    first --hyp), then, with --checkpoint, the checkpoint's output, written by the task
    command itself (``task_arguments(output)`` plus any options passed through)."""
    extra = list(ctx.args)
    if checkpoint is None:
        unknown = [argument for argument in extra if argument.startswith("-")]
        if unknown:
            raise typer.BadParameter(f"no such option: {unknown[0]} (options of the task command need --checkpoint)")
        if keep_output:
            raise typer.BadParameter("--keep-output goes with --checkpoint")
        yield [*given, *extra], {}
        return
    # a word that is no option's value would reach the task command as text to run on
    stray = [word for i, word in enumerate(extra) if not word.startswith("-") and (i == 0 or not extra[i - 1].startswith("-"))]
    if stray:
        raise typer.BadParameter(f"unexpected argument {stray[0]!r} (with --checkpoint, repeat --hyp/--predictions for each system)")
    with tempfile.TemporaryDirectory(prefix="nlpcli-evaluate-") as folder:
        output = keep_output or str(Path(folder) / "output")
        run_task_command([*task_arguments(output), "--checkpoint", str(checkpoint), *extra])
        yield [*given, output], {output: keep_output or str(checkpoint)}


def show_scores(task, options, as_json: bool, names: dict[str, str]) -> dict:
    """Score a TaskScoring and print the report: JSON, a rich table on a terminal, else text."""
    from nlpcli.evaluate import report_json, score
    from nlpcli.evaluation_view import print_table, render_text

    for system in task.systems:
        system.name = names.get(system.name, system.name)
    report = score(task, options)
    metric = task.metric
    if as_json:
        print(report_json(report))
    elif sys.stdout.isatty():
        print_table(report, metric.figures, metric.record_unit, metric.ranking_figure)
    else:
        print(render_text(report, metric.figures, metric.record_unit, metric.ranking_figure))
    return report


@evaluate_app.command("translate", context_settings=RUN_AND_SCORE)
def evaluate_translate(
    ctx: typer.Context,
    hyp: list[str] = typer.Option([], "--hyp", help="System output, one sentence a line; several systems: --hyp BASE OTHER ... (paired tests against BASE)."),
    ref: list[str] = typer.Option(..., "--ref", help="Reference file; repeat for several references."),
    metrics: str = typer.Option("bleu,chrf,ter", "--metrics", "-m", help="Comma-separated: bleu, chrf, ter."),
    source: Optional[str] = SOURCE_OPTION,
    checkpoint: Optional[Path] = EVAL_CHECKPOINT_OPTION,
    keep_output: Optional[str] = KEEP_OUTPUT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="JSON as sacrebleu prints it."),
    confidence: bool = CONFIDENCE_OPTION,
    confidence_n: int = CONFIDENCE_N_OPTION,
    seed: int = SEED_OPTION,
    paired_ar: bool = PAIRED_AR_OPTION,
    paired_n: Optional[int] = PAIRED_N_OPTION,
    per_record: Optional[str] = PER_RECORD_OPTION,
    worst: int = WORST_OPTION,
) -> None:
    """BLEU, chrF and TER with sacrebleu's defaults, printed as the sacrebleu command prints them."""
    from nlpcli.evaluate import sentence_records, translation_scores

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst)
    chosen = [m.strip().lower() for m in metrics.split(",") if m.strip()]
    with systems_to_score(ctx, hyp, checkpoint, keep_output,
                          lambda out: ["translate", "-i", needed(source, "--source", "translate"), "-o", out]) as (paths, names):
        scores = translation_scores(paths, ref, chosen, options, as_json, [names.get(p, p) for p in paths])
        worst_sentences = sentence_records(scores, options)
    if as_json and worst:
        print(json.dumps({"scores": json.loads(scores.text), "worst": worst_sentences}, indent=4, ensure_ascii=False))
        return
    print(scores.text)
    if worst:
        print("\n".join(["lowest sentences by sentence BLEU:",
                         *("  " + json.dumps(row, ensure_ascii=False) for row in worst_sentences)]))


@evaluate_app.command("summarize", context_settings=RUN_AND_SCORE)
def evaluate_summarize(
    ctx: typer.Context,
    hyp: list[str] = typer.Option([], "--hyp", help="System summaries, one a line; several systems: --hyp BASE OTHER ..."),
    ref: list[str] = typer.Option(..., "--ref", help="Reference summaries, one a line (or jsonl with a \"references\" list); repeat for several references."),
    source: Optional[str] = SOURCE_OPTION,
    checkpoint: Optional[Path] = EVAL_CHECKPOINT_OPTION,
    keep_output: Optional[str] = KEEP_OUTPUT_OPTION,
    as_json: bool = EVAL_JSON_OPTION,
    confidence: bool = CONFIDENCE_OPTION,
    confidence_n: int = CONFIDENCE_N_OPTION,
    seed: int = SEED_OPTION,
    paired_ar: bool = PAIRED_AR_OPTION,
    paired_n: Optional[int] = PAIRED_N_OPTION,
    per_record: Optional[str] = PER_RECORD_OPTION,
    worst: int = WORST_OPTION,
) -> None:
    """ROUGE-1/2/L F1 (rouge-score, Porter stemming), averaged over documents; the best reference of each."""
    from nlpcli.evaluate import read_summaries

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst)
    with systems_to_score(ctx, hyp, checkpoint, keep_output,
                          lambda out: ["summarize", "-i", needed(source, "--source", "summarize"), "-o", out]) as (paths, names):
        show_scores(read_summaries(paths, ref), options, as_json, names)


@evaluate_app.command("answer", context_settings=RUN_AND_SCORE)
def evaluate_answer(
    ctx: typer.Context,
    predictions: list[str] = typer.Option([], "--predictions", help="{id: answer} JSON (answer --format squad) or answer's jsonl (with scores); several systems: repeat or list them."),
    data: str = typer.Option(..., "--data", help="SQuAD v1.1 JSON with the gold answers (with --checkpoint, also the questions)."),
    checkpoint: Optional[Path] = EVAL_CHECKPOINT_OPTION,
    keep_output: Optional[str] = KEEP_OUTPUT_OPTION,
    as_json: bool = EVAL_JSON_OPTION,
    confidence: bool = CONFIDENCE_OPTION,
    confidence_n: int = CONFIDENCE_N_OPTION,
    seed: int = SEED_OPTION,
    paired_ar: bool = PAIRED_AR_OPTION,
    paired_n: Optional[int] = PAIRED_N_OPTION,
    per_record: Optional[str] = PER_RECORD_OPTION,
    worst: int = WORST_OPTION,
    calibration: bool = CALIBRATION_OPTION,
    calibration_bins: int = CALIBRATION_BINS_OPTION,
    reliability_plot: Optional[str] = RELIABILITY_PLOT_OPTION,
) -> None:
    """Exact match and F1 with the official SQuAD v1.1 normalisation, the best over gold answers."""
    from nlpcli.evaluate import read_answers

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst,
                                 calibration, calibration_bins, reliability_plot)
    with systems_to_score(ctx, predictions, checkpoint, keep_output,
                          lambda out: ["answer", "-i", data, "--input-format", "squad", "--format", "jsonl", "-o", out]) as (paths, names):
        report = show_scores(read_answers(paths, data), options, as_json, names)
    if report.get("unanswered"):
        console.warn(f"{report['unanswered']} question(s) have no prediction and score 0")


@evaluate_app.command("classify-sentiment", context_settings=RUN_AND_SCORE)
def evaluate_classify_sentiment(
    ctx: typer.Context,
    predictions: list[str] = typer.Option([], "--predictions", help="label[<TAB>probability] lines, or jsonl with \"label\" (and \"score\"); several systems: repeat or list them."),
    gold: str = typer.Option(..., "--gold", help="Gold labels: lines, jsonl, or a TSV with a 'label' column."),
    source: Optional[str] = SOURCE_OPTION,
    checkpoint: Optional[Path] = EVAL_CHECKPOINT_OPTION,
    keep_output: Optional[str] = KEEP_OUTPUT_OPTION,
    as_json: bool = EVAL_JSON_OPTION,
    confidence: bool = CONFIDENCE_OPTION,
    confidence_n: int = CONFIDENCE_N_OPTION,
    seed: int = SEED_OPTION,
    paired_ar: bool = PAIRED_AR_OPTION,
    paired_n: Optional[int] = PAIRED_N_OPTION,
    per_record: Optional[str] = PER_RECORD_OPTION,
    worst: int = WORST_OPTION,
    calibration: bool = CALIBRATION_OPTION,
    calibration_bins: int = CALIBRATION_BINS_OPTION,
    reliability_plot: Optional[str] = RELIABILITY_PLOT_OPTION,
) -> None:
    """Accuracy and macro-F1."""
    from nlpcli.evaluate import read_sentiment

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst,
                                 calibration, calibration_bins, reliability_plot)
    with systems_to_score(ctx, predictions, checkpoint, keep_output,
                          lambda out: ["classify-sentiment", "-i", needed(source, "--source", "classify-sentiment"), "-o", out]) as (paths, names):
        show_scores(read_sentiment(paths, gold), options, as_json, names)


@evaluate_app.command("tag-entities", context_settings=RUN_AND_SCORE)
def evaluate_tag_entities(
    ctx: typer.Context,
    predictions: list[str] = typer.Option([], "--predictions", help="CoNLL (token ... tag), or tag-entities' jsonl of the gold sentences (with scores); several systems: repeat or list them."),
    gold: str = typer.Option(..., "--gold", help="Gold CoNLL file (tag in the last column; with --checkpoint, also the input)."),
    checkpoint: Optional[Path] = EVAL_CHECKPOINT_OPTION,
    keep_output: Optional[str] = KEEP_OUTPUT_OPTION,
    as_json: bool = EVAL_JSON_OPTION,
    confidence: bool = CONFIDENCE_OPTION,
    confidence_n: int = CONFIDENCE_N_OPTION,
    seed: int = SEED_OPTION,
    paired_ar: bool = PAIRED_AR_OPTION,
    paired_n: Optional[int] = PAIRED_N_OPTION,
    per_record: Optional[str] = PER_RECORD_OPTION,
    worst: int = WORST_OPTION,
    calibration: bool = CALIBRATION_OPTION,
    calibration_bins: int = CALIBRATION_BINS_OPTION,
    reliability_plot: Optional[str] = RELIABILITY_PLOT_OPTION,
) -> None:
    """Entity-level precision, recall and F1, overall and per type, counted as conlleval counts."""
    from nlpcli.evaluate import read_entities, write_gold_sentences

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst,
                                 calibration, calibration_bins, reliability_plot)

    def tag(folder: str):
        # CoNLL in, CoNLL out; --calibration needs entity scores, so the gold sentences go in as text and jsonl comes out
        if not calibration:
            return lambda out: ["tag-entities", "-i", gold, "--input-format", "conll", "--format", "conll", "-o", out]
        sentences = write_gold_sentences(gold, str(Path(folder) / "sentences.txt")) if checkpoint else ""
        return lambda out: ["tag-entities", "-i", sentences, "--format", "jsonl", "-o", out]

    with tempfile.TemporaryDirectory(prefix="nlpcli-evaluate-") as folder, \
            systems_to_score(ctx, predictions, checkpoint, keep_output, tag(folder)) as (paths, names):
        show_scores(read_entities(paths, gold), options, as_json, names)


SCORE_LABELS = {"bleu": "BLEU", "chrf": "chrF", "ter": "TER", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L",
                "accuracy": "accuracy", "macro_f1": "macro-F1", "exact_match": "EM", "precision": "P", "recall": "R", "f1": "F1"}


@app.command()
def info(
    checkpoint: Optional[Path] = CHECKPOINT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Everything as one JSON object."),
) -> None:
    """What a checkpoint is: size, tasks, training and recorded scores."""
    from nlpcli.checkpoint import default_checkpoint_path
    from nlpcli.info import describe

    details = describe(checkpoint or default_checkpoint_path())
    if as_json:
        print(json.dumps(details, indent=2))
        return
    model, training = details["model"], details["training"]
    lines = [
        f"checkpoint   {details['path']}",
        f"parameters   {details['parameters']:,} ({details['size_bytes'] / 2**20:.1f} MiB on disk, {details['dtype']})",
        f"model        d_model {model['d_model']}, {model['n_heads']} heads, ffn {model['ffn_dim']}, "
        f"{model['encoder_layers']}+{model['decoder_layers']} layers, vocabulary {model['vocab_size']}",
    ]
    for task, spec in details["tasks"].items():
        what = spec.get("directions") or spec.get("labels") or [t[2:] for t in spec.get("tags", []) if t.startswith("B-")]
        if spec.get("style") == "m2m100":
            what = [f"any pair of {len(spec['languages'])} languages (M2M100 style, give --src)"]
        window = f" (window {spec['window']} tokens)" if "window" in spec else ""
        lines.append(f"task         {task}: {', '.join(what) if what else 'yes'}{window}")
    if "imported_from" in training:
        lines.append(f"imported     from {training['imported_from']} ({training.get('format')})")
    elif training:
        lines.append(f"training     recipe {training.get('recipe')}, {training.get('steps', 0):,} steps, "
                     f"{training.get('train_seconds', 0) / 3600:.1f} h on {training.get('device')}")
        if training.get("init_from"):
            lines.append(f"  from       {training['init_from']}")
        if "totals" in training:
            totals = training["totals"]
            hours = ", ".join(f"{h:.2f} h on {kind}" for kind, h in totals["device_hours"].items())
            tokens = ", ".join(f"{task} {n / 1e6:.1f} M" for task, n in totals["source_tokens"].items())
            lines.append(f"  in all     {totals['steps']:,} steps in {len(training['history'])} runs, {hours} "
                         f"(device-hours: seconds x cores); source tokens {tokens}")
        for data in training.get("data", []):
            lines.append(f"  data       {data['name']} ({data.get('task', 'translate')}: {data['path']}, weight {data['weight']})")
    for name, score in details["evaluation"].items():
        figures = "  ".join(f"{label} {score[key]}" for key, label in SCORE_LABELS.items() if key in score)
        size = next((f"{score[key]} {key}" for key in ("sentences", "documents", "examples", "questions") if key in score), "")
        beam = f"beam {score['beam']}, " if "beam" in score else ""
        lines.append(f"dev score    {name:<22} {figures}" + (f"  ({beam}{size})" if beam or size else ""))
    print("\n".join(lines))


class ConvertFormat(str, Enum):
    hf = "hf"
    ctranslate2 = "ctranslate2"


@app.command()
def convert(
    paths: list[Path] = typer.Argument(..., help="--to: OUT_DIR.  --from: IN_DIR OUT_CHECKPOINT."),
    to: Optional[ConvertFormat] = typer.Option(
        None, "--to", help="hf: a Hugging Face M2M100ForConditionalGeneration folder; "
                           "ctranslate2: a CTranslate2 model folder (needs nlpcli[ctranslate2])."),
    from_: Optional[ConvertFormat] = typer.Option(
        None, "--from", help="hf: import an M2M100 or NLLB-200 folder (config.json, weights, sentencepiece.bpe.model, "
                             "and vocab.json for M2M100)."),
    checkpoint: Optional[Path] = CHECKPOINT_OPTION,
) -> None:
    """Write a checkpoint in another toolkit's format (--to), or import one (--from)."""
    from nlpcli.convert import export_ctranslate2, export_hf, import_hf

    if (to is None) == (from_ is None):
        raise InputError("give exactly one of --to and --from")
    if to is not None:
        if len(paths) != 1:
            raise InputError(f"--to {to.value} takes one folder to write: nlpcli convert --to {to.value} OUT_DIR")
        export = export_hf if to is ConvertFormat.hf else export_ctranslate2
        console.info(f"wrote {export(checkpoint, paths[0])}")
        return
    if from_ is not ConvertFormat.hf:
        raise InputError("--from takes hf only (CTranslate2 folders cannot be read back)")
    if len(paths) != 2:
        raise InputError("--from hf takes two folders: nlpcli convert --from hf IN_DIR OUT_CHECKPOINT")
    console.info(f"wrote {import_hf(paths[0], paths[1])}; use it with --checkpoint {paths[1]} --src XX --tgt YY")


@app.command()
def train(
    recipe: Path = typer.Argument(..., help="Recipe file (TOML), e.g. recipes/translate-en-de.toml."),
    data: Path = typer.Option(Path("../shared/data"), "--data", help="Data folder that the recipe's paths are relative to."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/<recipe name>)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override train.max_steps."),
    batch_tokens: Optional[int] = typer.Option(None, "--batch-tokens", help="Override train.batch_tokens."),
    d_model: Optional[int] = typer.Option(None, "--d-model", help="Override model.d_model."),
    layers: Optional[int] = typer.Option(None, "--layers", help="Override model.encoder_layers and model.decoder_layers."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override train.seed."),
    set_: list[str] = typer.Option([], "--set", help="Any recipe key: section.key=value (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last saved state."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run already in --out."),
    trunk: Optional[Path] = typer.Option(None, "--trunk", help="Continue this trunk by --steps steps (or start it) and write it back."),
    from_trunk: Optional[Path] = typer.Option(None, "--from-trunk", help="Cool a copy of this trunk down into a release (with --cooldown)."),
    cooldown: Optional[int] = typer.Option(None, "--cooldown", help="Steps of lr cooldown after --from-trunk."),
    max_time: Optional[float] = typer.Option(None, "--max-time", help="Stop after this many minutes (at a step's end), as if --steps ended there."),
    device: str = DEVICE_OPTION,
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads."),
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
    run_dir: Path = typer.Argument(..., help="A run folder of nlpcli train."),
    output: Path = typer.Option(Path("curves.png"), "--output", "-o", help="Image to write (.png, .svg, .pdf)."),
) -> None:
    """Draw a run's training loss per task and dev scores against steps (needs nlpcli[plot])."""
    from nlpcli.plot import plot_training as draw_curves

    console.info(f"wrote {draw_curves(run_dir, output)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to an exit code and one line on stderr."""
    command = typer.main.get_command(app)
    try:
        # Typer turns Ctrl-C into a returned 130; a command's own result is None
        code = command.main(args=argv, prog_name="nlpcli", standalone_mode=False)
        if code == 130:
            console.error("interrupted")
        flush_stdout()  # print()ed reports: a full disk shows here as one line, not as a complaint at exit
        return code if isinstance(code, int) else 0
    except typer.Exit as done:
        return done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        console.error("interrupted")
        return 130
    except Interrupted as stop:  # Ctrl-C while writing -o FILE: where the finished output is
        console.error(f"interrupted; {stop}")
        return 130
    except typer.TyperException as usage:  # Typer's (click's) usage errors: exit 2, one line
        context, message = getattr(usage, "ctx", None), usage.format_message()
        if "\n" in message:  # `nlpcli` or `nlpcli evaluate` alone: the message is the help
            usage.show()
        else:
            console.error(f"{message} (see {context.command_path if context else 'nlpcli'} --help)")
        return usage.exit_code
    except (OutputClosed, BrokenPipeError):
        # the reader went away (| head): exit quietly, and keep Python from
        # complaining when it flushes stdout at shutdown
        from nlpcli.textio import discard_stdout

        discard_stdout()
        return 0
    except NlpcliError as problem:
        if os.environ.get("NLPCLI_DEBUG"):
            raise
        console.error("; ".join([str(problem), *getattr(problem, "__notes__", [])]))
        return 1
    except Exception as problem:  # noqa: BLE001 - last resort: one line, not a traceback
        if os.environ.get("NLPCLI_DEBUG"):
            raise
        if isinstance(problem, OSError) and problem.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            from nlpcli.textio import discard_stdout

            discard_stdout()  # a print() to a full disk: Python would fail again at exit
            console.error(f"cannot write {problem.filename or 'the output'}: {problem.strerror}")
            return 1
        console.error("; ".join([f"{type(problem).__name__}: {problem} (run with --debug for the traceback)",
                                 *getattr(problem, "__notes__", [])]))
        return 1


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed from None
    except OSError as error:
        from nlpcli.textio import discard_stdout

        discard_stdout()
        raise OutputError(f"cannot write <stdout>: {error.strerror}") from None


def entry_point() -> None:
    sys.exit(main())
