"""The command line as a thin layer: options defined once and shared, and the plain
functions the commands call (info's rendering, answer's format detection)."""
import inspect

import pytest
import typer

from nlpcli.cli import app, evaluate, options, tasks
from nlpcli.info import render_info
from nlpcli.tasks.answer import question_format

TASK_COMMANDS = ("translate", "summarize", "answer", "classify-sentiment", "tag-entities")
# every task command takes these, from nlpcli/cli/options.py (answer's -i says what questions it reads)
SHARED_TASK_OPTIONS = {"input": "Input", "output": "Output", "batch_size": "BatchSize", "checkpoint": "Checkpoint",
                       "device": "Device", "threads": "Threads", "stream": "Stream", "quiet": "Quiet",
                       "encoding_errors": "EncodingErrorsOption", "show_attention": "ShowAttention",
                       "attention_out": "AttentionOut", "layer": "Layer", "head": "Head", "words": "Words",
                       "int8": "Int8", "bf16": "Bf16"}
EVALUATE_COMMANDS = ("translate", "summarize", "answer", "classify-sentiment", "tag-entities")
SHARED_EVALUATE_OPTIONS = {"checkpoint": "EvalCheckpoint", "keep_output": "KeepOutput", "confidence": "Confidence",
                           "confidence_n": "ConfidenceN", "seed": "Seed", "paired_ar": "PairedAr", "paired_n": "PairedN",
                           "per_record": "PerRecord", "worst": "Worst"}
CALIBRATION_OPTIONS = {"calibration": "Calibration", "calibration_bins": "CalibrationBins",
                       "reliability_plot": "ReliabilityPlot"}


def described(parameter) -> tuple:
    """What a user sees of an option: its flags, help and default."""
    return (tuple(parameter.opts), tuple(parameter.secondary_opts), parameter.help, parameter.default, parameter.is_flag,
            parameter.multiple, parameter.required)


def options_of(group, name: str) -> dict:
    return {parameter.name: parameter for parameter in group.commands[name].params}


def test_task_commands_share_one_definition_of_each_common_option():
    root = typer.main.get_command(app)
    by_command = {name: options_of(root, name) for name in TASK_COMMANDS}
    for option, alias in SHARED_TASK_OPTIONS.items():
        seen = {name: described(params[option]) for name, params in by_command.items()
                if not (name == "answer" and option == "input")}
        assert len(set(seen.values())) == 1, (option, seen)
        for name in TASK_COMMANDS:  # declared with the alias, not written out again
            function = getattr(tasks, name.replace("-", "_"))
            if not (name == "answer" and option == "input"):
                assert inspect.signature(function).parameters[option].annotation == alias, (name, option)
    answer_input = by_command["answer"]["input"]
    assert answer_input.opts == by_command["translate"]["input"].opts == ["--input", "-i"]
    assert "SQuAD" in answer_input.help
    assert by_command["translate"]["batch_size"].default == 32 and by_command["tag-entities"]["layer"].default == "last"


def test_evaluate_commands_share_one_definition_of_each_common_option():
    group = typer.main.get_command(app).commands["evaluate"]
    by_command = {name: options_of(group, name) for name in EVALUATE_COMMANDS}
    calibrated = ("answer", "classify-sentiment", "tag-entities")
    for option, alias in {**SHARED_EVALUATE_OPTIONS, **CALIBRATION_OPTIONS}.items():
        names = calibrated if option in CALIBRATION_OPTIONS else EVALUATE_COMMANDS
        assert len({described(by_command[name][option]) for name in names}) == 1, option
        for name in names:
            function = getattr(evaluate, "evaluate_" + name.replace("-", "_"))
            assert inspect.signature(function).parameters[option].annotation == alias, (name, option)
    assert not CALIBRATION_OPTIONS.keys() & (by_command["translate"].keys() | by_command["summarize"].keys())
    # translate's --json prints sacrebleu's JSON, the others share one --json
    assert by_command["translate"]["as_json"].help != by_command["summarize"]["as_json"].help
    assert len({described(by_command[name]["as_json"]) for name in EVALUATE_COMMANDS[1:]}) == 1


def test_every_shared_option_alias_is_used():
    source = "".join(inspect.getsource(module) for module in (tasks, evaluate))
    aliases = [name for name, value in vars(options).items()
               if getattr(value, "__metadata__", None) and isinstance(value.__metadata__[0], typer.models.OptionInfo)]
    assert len(aliases) >= 30
    from nlpcli.cli import model, training

    source += inspect.getsource(model) + inspect.getsource(training)
    assert [alias for alias in aliases if f": {alias} =" not in source] == []


@pytest.mark.parametrize("requested, context, questions, input, expected", [
    ("auto", "the context", None, None, "text"),
    ("auto", None, ["who?"], None, "text"),
    ("auto", None, None, "dev-v1.1.json", "squad"),
    ("auto", None, None, "questions.jsonl", "jsonl"),
    ("auto", None, None, None, "jsonl"),  # stdin without --context: jsonl
    ("jsonl", "the context", None, "dev.json", "jsonl"),  # what is asked for wins
])
def test_answer_input_format_detection(requested, context, questions, input, expected):
    assert question_format(requested, context, questions, input) == expected


def test_info_rendering_is_a_plain_function():
    details = {
        "path": "ck", "parameters": 1234567, "size_bytes": 3 * 2**20, "dtype": "float16",
        "model": {"d_model": 64, "n_heads": 2, "ffn_dim": 128, "encoder_layers": 2, "decoder_layers": 1, "vocab_size": 500},
        "tasks": {"translate": {"directions": ["en-de"]}, "summarize": {"window": 192},
                  "tag-entities": {"tags": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]},
                  "m2m": {"style": "m2m100", "languages": ["en", "de", "fr"]}},
        "training": {"recipe": "toy", "steps": 12000, "train_seconds": 5400, "device": "cpu", "init_from": "base",
                     "history": [{}, {}],
                     "totals": {"steps": 13000, "device_hours": {"cpu": 1.5}, "source_tokens": {"translate": 2_500_000}},
                     "data": [{"name": "m30k", "path": "t/m30k", "weight": 1.0}]},
        "evaluation": {"m30k-val.en-de": {"bleu": 30.1, "chrf": 55.0, "beam": 4, "sentences": 10},
                       "conll-dev": {"precision": 80, "recall": 70, "f1": 74.7}},
    }
    assert render_info(details).split("\n") == [
        "checkpoint   ck",
        "parameters   1,234,567 (3.0 MiB on disk, float16)",
        "model        d_model 64, 2 heads, ffn 128, 2+1 layers, vocabulary 500",
        "task         translate: en-de",
        "task         summarize: yes (window 192 tokens)",
        "task         tag-entities: PER, LOC",
        "task         m2m: any pair of 3 languages (M2M100 style, give --src)",
        "training     recipe toy, 12,000 steps, 1.5 h on cpu",
        "  from       base",
        "  in all     13,000 steps in 2 runs, 1.50 h on cpu (device-hours: seconds x cores); source tokens translate 2.5 M",
        "  data       m30k (translate: t/m30k, weight 1.0)",
        "dev score    m30k-val.en-de         BLEU 30.1  chrF 55.0  (beam 4, 10 sentences)",
        "dev score    conll-dev              P 80  R 70  F1 74.7",
    ]
    # a release cooled down from a trunk: its train_seconds run on over every machine, so the last run is named
    cooled = {**details["training"], "train_seconds": 154712, "device": "NVIDIA H200",
              "history": [{}, {"kind": "cooldown", "steps": 300, "seconds": 89}]}
    assert render_info({**details, "training": cooled}).split("\n")[7] == (
        "training     recipe toy, 12,000 steps; the last run, a cooldown of 300 steps, 89 s on NVIDIA H200")
    # an average of checkpoints (recipes/average.py) trained nothing: the last run named is still the cooldown
    averaged = {**cooled, "history": [*cooled["history"], {"kind": "average", "command": "python recipes/average.py a b"}]}
    assert render_info({**details, "training": averaged}).split("\n")[7] == render_info({**details, "training": cooled}).split("\n")[7]
    # a task scored in bfloat16 runs in it by default (runtime.runs_in_bf16), and says so
    bf16 = {**details, "tasks": {"translate": {"directions": ["en-de"], "compute_dtype": "bfloat16"}}}
    assert render_info(bf16).split("\n")[3] == "task         translate: en-de, runs in bfloat16 where the hardware has it"
    imported = {**details, "tasks": {}, "evaluation": {}, "training": {"imported_from": "facebook/m2m100_418M", "format": "hf"}}
    assert render_info(imported).split("\n")[3:] == ["imported     from facebook/m2m100_418M (hf)"]


def test_no_help_page_imports_torch():
    """Every command's --help (and evaluate's), not only those test_readme_promises runs, stays light."""
    import subprocess
    import sys

    pages = [[name, "--help"] for name in ("info", "convert", "plot-training", *TASK_COMMANDS)]
    pages += [["evaluate", name, "--help"] for name in EVALUATE_COMMANDS]
    script = ("import sys\nfrom nlpcli.cli import main\n"
              f"codes = [main(args) for args in {pages!r}]\n"
              "print(codes, sorted(m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.stderr.decode().strip().splitlines()[-1] == f"{[0] * len(pages)} []", result.stderr
    assert result.stdout.decode().count("Usage: nlpcli ") == len(pages)
