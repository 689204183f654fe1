"""``nlpcli evaluate``: score system output (files, or a checkpoint's output produced
by the task command itself) with the standard metric of each task."""
from __future__ import annotations

import json
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from nlpcli import console
from nlpcli.cli.options import (Calibration, CalibrationBins, Confidence, ConfidenceN, EvalCheckpoint, EvalJson,
                                KeepOutput, PairedAr, PairedN, PerRecord, ReliabilityPlot, Seed, Source, Worst)
from nlpcli.cli.root import app, evaluate_app
from nlpcli.errors import InputError

RUN_AND_SCORE = {"allow_extra_args": True, "ignore_unknown_options": True}

# A required option after optional ones is written `= ...`: Typer's mark for "required" (a Python
# default is needed only because the options before it have one).


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
    hyp: Annotated[list[str], typer.Option("--hyp", help="System output, one sentence a line; several systems: --hyp BASE OTHER ... (paired tests against BASE).")] = [],
    ref: Annotated[list[str], typer.Option("--ref", help="Reference file; repeat for several references.")] = ...,
    metrics: Annotated[str, typer.Option("--metrics", "-m", help="Comma-separated: bleu, chrf, ter.")] = "bleu,chrf,ter",
    source: Source = None,
    checkpoint: EvalCheckpoint = None,
    keep_output: KeepOutput = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON as sacrebleu prints it.")] = False,
    confidence: Confidence = False,
    confidence_n: ConfidenceN = 1000,
    seed: Seed = 12345,
    paired_ar: PairedAr = False,
    paired_n: PairedN = None,
    per_record: PerRecord = None,
    worst: Worst = 0,
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
    hyp: Annotated[list[str], typer.Option("--hyp", help="System summaries, one a line; several systems: --hyp BASE OTHER ...")] = [],
    ref: Annotated[list[str], typer.Option("--ref", help="Reference summaries, one a line (or jsonl with a \"references\" list); repeat for several references.")] = ...,
    source: Source = None,
    checkpoint: EvalCheckpoint = None,
    keep_output: KeepOutput = None,
    as_json: EvalJson = False,
    confidence: Confidence = False,
    confidence_n: ConfidenceN = 1000,
    seed: Seed = 12345,
    paired_ar: PairedAr = False,
    paired_n: PairedN = None,
    per_record: PerRecord = None,
    worst: Worst = 0,
) -> None:
    """ROUGE-1/2/L F1 (rouge-score, Porter stemming), averaged over documents; the best reference of each."""
    from nlpcli.tasks import TASKS

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst)
    with systems_to_score(ctx, hyp, checkpoint, keep_output,
                          lambda out: ["summarize", "-i", needed(source, "--source", "summarize"), "-o", out]) as (paths, names):
        show_scores(TASKS["summarize"].scoring(paths, ref), options, as_json, names)


@evaluate_app.command("answer", context_settings=RUN_AND_SCORE)
def evaluate_answer(
    ctx: typer.Context,
    predictions: Annotated[list[str], typer.Option("--predictions", help="{id: answer} JSON (answer --format squad) or answer's jsonl (with scores); several systems: repeat or list them.")] = [],
    data: Annotated[str, typer.Option("--data", help="SQuAD v1.1 JSON with the gold answers (with --checkpoint, also the questions).")] = ...,
    checkpoint: EvalCheckpoint = None,
    keep_output: KeepOutput = None,
    as_json: EvalJson = False,
    confidence: Confidence = False,
    confidence_n: ConfidenceN = 1000,
    seed: Seed = 12345,
    paired_ar: PairedAr = False,
    paired_n: PairedN = None,
    per_record: PerRecord = None,
    worst: Worst = 0,
    calibration: Calibration = False,
    calibration_bins: CalibrationBins = 10,
    reliability_plot: ReliabilityPlot = None,
) -> None:
    """Exact match and F1 with the official SQuAD v1.1 normalisation, the best over gold answers."""
    from nlpcli.tasks import TASKS

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst,
                                 calibration, calibration_bins, reliability_plot)
    with systems_to_score(ctx, predictions, checkpoint, keep_output,
                          lambda out: ["answer", "-i", data, "--input-format", "squad", "--format", "jsonl", "-o", out]) as (paths, names):
        report = show_scores(TASKS["answer"].scoring(paths, [data]), options, as_json, names)
    if report.get("unanswered"):
        console.warn(f"{report['unanswered']} question(s) have no prediction and score 0")


@evaluate_app.command("classify-sentiment", context_settings=RUN_AND_SCORE)
def evaluate_classify_sentiment(
    ctx: typer.Context,
    predictions: Annotated[list[str], typer.Option("--predictions", help="label[<TAB>probability] lines, or jsonl with \"label\" (and \"score\"); several systems: repeat or list them.")] = [],
    gold: Annotated[str, typer.Option("--gold", help="Gold labels: lines, jsonl, or a TSV with a 'label' column.")] = ...,
    source: Source = None,
    checkpoint: EvalCheckpoint = None,
    keep_output: KeepOutput = None,
    as_json: EvalJson = False,
    confidence: Confidence = False,
    confidence_n: ConfidenceN = 1000,
    seed: Seed = 12345,
    paired_ar: PairedAr = False,
    paired_n: PairedN = None,
    per_record: PerRecord = None,
    worst: Worst = 0,
    calibration: Calibration = False,
    calibration_bins: CalibrationBins = 10,
    reliability_plot: ReliabilityPlot = None,
) -> None:
    """Accuracy and macro-F1."""
    from nlpcli.tasks import TASKS

    options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst,
                                 calibration, calibration_bins, reliability_plot)
    with systems_to_score(ctx, predictions, checkpoint, keep_output,
                          lambda out: ["classify-sentiment", "-i", needed(source, "--source", "classify-sentiment"), "-o", out]) as (paths, names):
        show_scores(TASKS["classify-sentiment"].scoring(paths, [gold]), options, as_json, names)


@evaluate_app.command("tag-entities", context_settings=RUN_AND_SCORE)
def evaluate_tag_entities(
    ctx: typer.Context,
    predictions: Annotated[list[str], typer.Option("--predictions", help="CoNLL (token ... tag), or tag-entities' jsonl of the gold sentences (with scores); several systems: repeat or list them.")] = [],
    gold: Annotated[str, typer.Option("--gold", help="Gold CoNLL file (tag in the last column; with --checkpoint, also the input).")] = ...,
    checkpoint: EvalCheckpoint = None,
    keep_output: KeepOutput = None,
    as_json: EvalJson = False,
    confidence: Confidence = False,
    confidence_n: ConfidenceN = 1000,
    seed: Seed = 12345,
    paired_ar: PairedAr = False,
    paired_n: PairedN = None,
    per_record: PerRecord = None,
    worst: Worst = 0,
    calibration: Calibration = False,
    calibration_bins: CalibrationBins = 10,
    reliability_plot: ReliabilityPlot = None,
) -> None:
    """Entity-level precision, recall and F1, overall and per type, counted as conlleval counts."""
    from nlpcli.evaluate import write_gold_sentences
    from nlpcli.tasks import TASKS

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
        show_scores(TASKS["tag-entities"].scoring(paths, [gold]), options, as_json, names)
