"""The options that several commands share, each defined once as an ``Annotated``
alias (spaCy's pattern): a command writes ``input: Input = None`` and gets the same
flag names and help as every other command. The default stays in the signature.

This works under ``from __future__ import annotations``: Typer (0.12 and later, on
Python 3.10+) reads the signature with ``inspect.signature(eval_str=True)``, so the
alias names only need to be importable from the command's module.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class OutputFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


class InputFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


class EncodingErrors(str, Enum):
    strict = "strict"
    replace = "replace"


class AnswerFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"
    squad = "squad"


class QuestionFormat(str, Enum):
    auto = "auto"
    text = "text"
    jsonl = "jsonl"
    squad = "squad"


class EntityFormat(str, Enum):
    inline = "inline"
    text = "text"  # the same as inline
    jsonl = "jsonl"
    conll = "conll"


class EntityInputFormat(str, Enum):
    text = "text"
    conll = "conll"


class ConvertFormat(str, Enum):
    hf = "hf"
    ctranslate2 = "ctranslate2"


# ---- the task commands (and info, convert, train) -----------------------------------
TEXTS_HELP = "Texts (default: read -i FILE or stdin, one per line)."
Checkpoint = Annotated[Optional[Path], typer.Option("--checkpoint", "-c", help="Checkpoint folder (default: the shipped one, or $NLPCLI_CHECKPOINT).")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N].")]
Input = Annotated[Optional[str], typer.Option("--input", "-i", help="Input file, one record per line ('-' for stdin).")]
Output = Annotated[Optional[str], typer.Option("--output", "-o", help="Output file (default: stdout).")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Records run through the model together.")]
Threads = Annotated[Optional[int], typer.Option("--threads", help="CPU threads (default: PyTorch's choice).")]
Stream = Annotated[bool, typer.Option("--stream", help="Answer line by line (automatic when stdin is a terminal).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No warnings.")]
EncodingErrorsOption = Annotated[EncodingErrors, typer.Option("--encoding-errors", help="strict: invalid UTF-8 is an error; replace: U+FFFD and a warning.")]
ShowAttention = Annotated[bool, typer.Option("--show-attention", help="Draw each record's attention heatmap on stderr.")]
AttentionOut = Annotated[Optional[str], typer.Option("--attention-out", help="Write attention maps to .json, .html, .png or .svg; {i} in the name: one file per record.")]
Layer = Annotated[str, typer.Option("--layer", help="Layer of the heatmap: N, last, all or mean.")]
Head = Annotated[str, typer.Option("--head", help="Head of the heatmap: N or mean.")]
Words = Annotated[bool, typer.Option("--words", help="Heatmaps over words (SentencePiece pieces merged).")]
Int8 = Annotated[bool, typer.Option("--int8", help="Int8 linear layers (dynamic quantization): faster on CPUs.")]
Bf16 = Annotated[Optional[bool], typer.Option(
    "--bf16/--fp32", show_default=False,
    help="bfloat16 or float32 weights and activations [default: bfloat16 where the checkpoint's scores for the task "
         "were measured in it (its compute_dtype, shown by nlpcli info) and the hardware multiplies bfloat16 natively "
         "(AVX512-BF16/AMX CPUs, bf16 GPUs), else float32].")]

# ---- the evaluate commands ------------------------------------------------------------
EvalJson = Annotated[bool, typer.Option("--json", help="One JSON object: every figure, its interval and the signature.")]
Confidence = Annotated[bool, typer.Option("--confidence", help="A bootstrap 95% confidence interval for every figure.")]
ConfidenceN = Annotated[int, typer.Option("--confidence-n", help="Bootstrap resamples for --confidence.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the resampling (12345, sacrebleu's default).")]
PairedAr = Annotated[bool, typer.Option("--paired-ar/--paired-bs", help="Several systems: approximate randomization, or paired bootstrap resampling (default).")]
PairedN = Annotated[Optional[int], typer.Option("--paired-n", help="Paired bootstrap resamples [1,000] or randomization trials [10,000].")]
PerRecord = Annotated[Optional[str], typer.Option("--per-record", help="Write each record's own scores to this jsonl file.")]
Worst = Annotated[int, typer.Option("--worst", help="Also show the N lowest-scoring records.")]
Calibration = Annotated[bool, typer.Option("--calibration", help="Expected calibration error of the predictions' probabilities.")]
CalibrationBins = Annotated[int, typer.Option("--calibration-bins", help="Equal-width confidence bins for --calibration.")]
ReliabilityPlot = Annotated[Optional[str], typer.Option("--reliability-plot", help="With --calibration: write a reliability diagram (.png; needs nlpcli[plot]).")]
EvalCheckpoint = Annotated[Optional[Path], typer.Option("--checkpoint", "-c", help="Run this checkpoint on the inputs and score its output; the task command's own options pass through.")]
KeepOutput = Annotated[Optional[str], typer.Option("--keep-output", help="With --checkpoint: keep the system output in this file.")]
Source = Annotated[Optional[str], typer.Option("--source", help="With --checkpoint: the input file the model runs on.")]
