"""The commands of a registered task that has none of its own (a plugin added
with ``nlpcli.tasks.register``): ``nlpcli TASK`` runs it with the options every
task command shares and ``nlpcli evaluate TASK`` scores its output with the
task's evaluator. ``root.app`` and ``root.evaluate_app`` make them from the
registry when a command name is looked up, so a task registered before
``nlpcli.cli.main()`` runs has both."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from nlpcli.cli.evaluate import RUN_AND_SCORE, evaluation_options, needed, show_scores, systems_to_score
from nlpcli.cli.options import (AttentionOut, BatchSize, Bf16, Checkpoint, Confidence, ConfidenceN, Device,
                                EncodingErrors, EncodingErrorsOption, EvalCheckpoint, EvalJson, Head, Input, InputFormat,
                                Int8, KeepOutput, Layer, Output, OutputFormat, PairedAr, PairedN, PerRecord, Quiet, Seed,
                                ShowAttention, Source, Stream, TEXTS_HELP, Threads, Words, Worst)
from nlpcli.cli.root import positive
from nlpcli.cli.tasks import TaskRun, run_task


def task_command(task):
    """``nlpcli TASK``: run the task on records, with the options every task command shares."""
    commands = typer.Typer()

    @commands.command(task.name, help=f"{task.name}: one output line per input line, in input order (a registered task).")
    def run(
        texts: Annotated[Optional[list[str]], typer.Argument(help=TEXTS_HELP)] = None,
        input: Input = None,
        output: Output = None,
        input_format: Annotated[InputFormat, typer.Option("--input-format", help="text (one input a line) or jsonl (the task's input field).")] = InputFormat.text,
        format: Annotated[OutputFormat, typer.Option("--format", help="text, or jsonl with the input, the output and its score.")] = OutputFormat.text,
        beam: Annotated[int, typer.Option("--beam", help="Beam size (1 = greedy; tasks that decode).")] = 4,
        max_len: Annotated[int, typer.Option("--max-len", help="Most output tokens (tasks that decode) [default: 1.5 x input + 10].")] = 0,
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
        from nlpcli.decoding import GenerationSettings

        settings = GenerationSettings(beam=positive("--beam", beam), max_len=max_len and positive("--max-len", max_len),
                                      batch_size=positive("--batch-size", batch_size))
        run_task(task, TaskRun.from_arguments(locals()), settings)

    return typer.main.get_command(commands)


def evaluation_command(task):
    """``nlpcli evaluate TASK``: score output files (or a checkpoint's output) with the task's evaluator."""
    commands = typer.Typer()

    @commands.command(task.name, context_settings=RUN_AND_SCORE,
                      help=f"Score {task.name} output with the task's metric (a registered task).")
    def score(
        ctx: typer.Context,
        hyp: Annotated[list[str], typer.Option("--hyp", help="System output, one record a line; several systems: --hyp BASE OTHER ...")] = [],
        ref: Annotated[list[str], typer.Option("--ref", help="Reference file, one record a line; repeat for several references.")] = ...,
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
        options = evaluation_options(confidence, confidence_n, seed, paired_ar, paired_n, per_record, worst)
        with systems_to_score(ctx, hyp, checkpoint, keep_output,
                              lambda out: [task.name, "-i", needed(source, "--source", task.name), "-o", out]) as (paths, names):
            show_scores(task.scoring(paths, ref), options, as_json, names)

    return typer.main.get_command(commands)
