"""Bad input, second round: every place a user's file or value enters, run
through the real command line. Each case gives the exit code and the exact
message (one line, no traceback); nothing is lost: an earlier -o file and every
input file stay as they were, and text that is merely awkward gives one output
record per input record."""
import json
import shutil
from pathlib import Path

import pytest

from test_cli import nlpcli

LONG_WORD = "x" * 100_000  # a 100,000-character line without a space
MIXED = "Zoë e\u0301te\u0301 Ça va? 漢字かな Ωμέγα مرحبا हिन्दी 👩\u200d👩\u200d👧 🇩🇪 ✊🏽"
EARLIER = "earlier good output\n"
SQUAD = json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "Anna lives in Rome .", "qas": [
    {"id": "q1", "question": "Where ?", "answers": [{"text": "Rome", "answer_start": 14}]}]}]}]})
GOLD_CONLL = "-DOCSTART- O\n\nJohn B-PER\nlives O\nin O\nParis B-LOC\n"
TASKS = {"translate": ["translate"], "summarize": ["summarize", "--beam", "1"], "classify-sentiment": ["classify-sentiment"],
         "tag-entities": ["tag-entities"], "answer": ["answer", "--context", "Anna lives in Rome ."]}

CUT = ["nlpcli: warning: <stdin>, line {}: longer than the " + why for why in (
    "model's window (64 tokens); translated the beginning only\n", "summarization window (64 tokens); summarized the beginning only\n",
    "model's window (64 tokens); classified the beginning only\n", "model's window (64 tokens); words past it are tagged O\n")]
# the toy tokenizer spells the mixed scripts in many byte pieces, so that line is cut too; an answer's
# question is cut to 48 tokens without a word: the context is what matters
LONG_LINE_WARNINGS = {task: cut.format(1) + cut.format(2) for task, cut in zip(TASKS, CUT)} | {"answer": ""}


def break_config(change):
    def apply(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        change(config)
        (folder / "config.json").write_text(json.dumps(config))
    return apply


def write(name: str, content: str | bytes):
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return apply


def truncate(name: str, keep: int):
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[:keep])
    return apply


def reshape_weight(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    tensors["encoder.layers.0.fc1.weight"] = tensors["encoder.layers.0.fc1.weight"][:100].contiguous()
    save_file(tensors, str(folder / "model.safetensors"))


def drop_weight(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["decoder.layer_norm.weight"]
    save_file(tensors, str(folder / "model.safetensors"))


def hugging_face_folder(folder: Path) -> None:
    for file in folder.iterdir():
        file.unlink()
    (folder / "config.json").write_text(json.dumps({"model_type": "m2m_100", "architectures": ["M2M100ForConditionalGeneration"]}))
    (folder / "sentencepiece.bpe.model").write_bytes(b"\0")


def replace_with_file(folder: Path) -> None:
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")


# (id, arguments, stdin, files written first, how the checkpoint copy is broken, exit code, stderr, output records)
# {ckpt}: the checkpoint the command runs on; {tmp}: the test's folder. An error case of a task command also
# writes -o {tmp}/out.txt, which holds an earlier output that must survive.
CASES = [
    # ---- each part of a checkpoint folder broken on its own
    ("config-not-json", ["translate"], "a man\n", {}, write("config.json", "{not json"), 1,
     "{ckpt}/config.json is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)", None),
    ("config-a-list", ["translate"], "a man\n", {}, write("config.json", "[1, 2]"), 1,
     "{ckpt}/config.json is not an nlpcli checkpoint config", None),
    ("config-without-model", ["translate"], "a man\n", {}, break_config(lambda c: c.pop("model")), 1,
     '{ckpt}/config.json has no "model" settings', None),
    ("config-model-lacks-key", ["translate"], "a man\n", {}, break_config(lambda c: c["model"].pop("d_model")), 1,
     "{ckpt}/config.json: the model settings lack d_model", None),
    ("config-model-unknown-key", ["translate"], "a man\n", {}, break_config(lambda c: c["model"].update(depth=3)), 1,
     "{ckpt}/config.json: bad model settings: unknown model setting(s): depth", None),
    ("config-model-size-not-number", ["translate"], "a man\n", {}, break_config(lambda c: c["model"].update(n_heads="four")), 1,
     "{ckpt}/config.json: bad model settings: ", None),
    ("config-format-version", ["translate"], "a man\n", {}, break_config(lambda c: c.update(format_version=7)), 1,
     "{ckpt}/config.json has format_version 7; this nlpcli reads version 1", None),
    ("config-without-tasks", ["translate"], "a man\n", {}, break_config(lambda c: c.pop("tasks")), 1,
     "this checkpoint does not serve translate; it serves: nothing", None),
    ("tokenizer-truncated", ["translate"], "a man\n", {}, truncate("tokenizer.model", 1000), 1,
     "{ckpt}/tokenizer.model is not a SentencePiece model: ", None),
    ("tokenizer-not-sentencepiece", ["translate"], "a man\n", {}, write("tokenizer.model", "just some text\n"), 1,
     "{ckpt}/tokenizer.model is not a SentencePiece model: ", None),
    ("tokenizer-missing", ["translate"], "a man\n", {}, lambda f: (f / "tokenizer.model").unlink(), 1,
     "checkpoint {ckpt} is missing tokenizer.model", None),
    ("weights-wrong-shape", ["translate"], "a man\n", {}, reshape_weight, 1,
     "{ckpt}/model.safetensors: encoder.layers.0.fc1.weight has shape (100, 64), config.json implies (128, 64)", None),
    ("weights-missing-tensor", ["translate"], "a man\n", {}, drop_weight, 1,
     "{ckpt}/model.safetensors does not match config.json: missing ['decoder.layer_norm.weight'], unexpected []", None),
    ("weights-truncated", ["translate"], "a man\n", {}, truncate("model.safetensors", 5000), 1,
     "{ckpt}/model.safetensors is unreadable or truncated: ", None),
    ("checkpoint-is-a-file", ["classify-sentiment"], "a man\n", {}, replace_with_file, 1,
     "checkpoint {ckpt} is a file; give the folder that holds config.json, model.safetensors and tokenizer.model", None),
    ("hugging-face-folder", ["translate"], "a man\n", {}, hugging_face_folder, 1,
     "{ckpt} is a Hugging Face model folder, not an nlpcli checkpoint; import it first: nlpcli convert --from hf {ckpt} OUT_FOLDER", None),
    # ---- every evaluator's inputs
    ("answer-predictions-a-list", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": '["Rome"]', "d.json": SQUAD}, None, 1, '{tmp}/p.json: expected one JSON object {{"id": "answer text"}} or jsonl {{"id", "answer", "score"}}, found list', None),
    ("answer-predictions-not-strings", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": '{"q1": ["Rome"]}', "d.json": SQUAD}, None, 1, "{tmp}/p.json: the answer of 'q1' must be a string, found list", None),
    ("answer-predictions-unknown-id", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": '{"q1": "Rome", "q9": "Paris"}', "d.json": SQUAD}, None, 1, "{tmp}/p.json: 1 id(s) not in {tmp}/d.json, e.g. 'q9'", None),
    ("answer-predictions-empty", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": "", "d.json": SQUAD}, None, 1, "predictions file {tmp}/p.json is empty", None),
    ("answer-predictions-broken-json", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": '{"q1": "Rome",\n', "d.json": SQUAD}, None, 1,
     "{tmp}/p.json: not a JSON object of answers (Expecting property name enclosed in double quotes: line 2 column 1 (char 15))", None),
    ("answer-gold-question-without-id", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": '{"q1": "Rome"}', "d.json": SQUAD.replace('"id": "q1", ', "")}, None, 1,
     "{tmp}/d.json: data[0].paragraphs[0].qas[0] has no 'id'", None),
    ("answer-gold-not-squad", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": '{"q1": "Rome"}', "d.json": "[]"}, None, 1,
     '{tmp}/d.json: not SQuAD v1.1 JSON (expected an object with a "data" list, found list)', None),
    ("answer-gold-empty", ["evaluate", "answer", "--predictions", "{tmp}/p.json", "--data", "{tmp}/d.json"], "",
     {"p.json": '{"q1": "Rome"}', "d.json": ""}, None, 1, "SQuAD file {tmp}/d.json is empty", None),
    ("sentiment-unknown-label", ["evaluate", "classify-sentiment", "--predictions", "{tmp}/p.txt", "--gold", "{tmp}/g.txt"], "",
     {"p.txt": "positive\t0.9\nneutral\t0.5\n", "g.txt": "1\n0\n"}, None, 1,
     "{tmp}/p.txt, line 2: label 'neutral' is not positive/negative (or 1/0, pos/neg)", None),
    ("sentiment-jsonl-without-label", ["evaluate", "classify-sentiment", "--predictions", "{tmp}/p.jsonl", "--gold", "{tmp}/g.txt"], "",
     {"p.jsonl": '{"label": "positive"}\n{"text": "x", "score": 0.9}\n', "g.txt": "1\n0\n"}, None, 1,
     '{tmp}/p.jsonl, line 2: no "label" field', None),
    ("sentiment-jsonl-broken", ["evaluate", "classify-sentiment", "--predictions", "{tmp}/p.jsonl", "--gold", "{tmp}/g.txt"], "",
     {"p.jsonl": '{"label": "positive"\n', "g.txt": "1\n"}, None, 1,
     "{tmp}/p.jsonl, line 1: invalid JSON (Expecting ',' delimiter)", None),
    ("sentiment-line-counts", ["evaluate", "classify-sentiment", "--predictions", "{tmp}/p.txt", "--gold", "{tmp}/g.txt"], "",
     {"p.txt": "positive\nnegative\npositive\n", "g.txt": "1\n0\n"}, None, 1,
     "hypothesis {tmp}/p.txt has 3 lines but reference {tmp}/g.txt has 2", None),
    ("sentiment-empty-predictions", ["evaluate", "classify-sentiment", "--predictions", "{tmp}/p.txt", "--gold", "{tmp}/g.txt"], "",
     {"p.txt": "", "g.txt": "1\n"}, None, 1, "hypothesis file {tmp}/p.txt is empty", None),
    ("entities-tokens-do-not-line-up", ["evaluate", "tag-entities", "--predictions", "{tmp}/p.conll", "--gold", "{tmp}/g.conll"], "",
     {"p.conll": "John B-PER\nlives O\nat O\nParis B-LOC\n", "g.conll": GOLD_CONLL}, None, 1,
     "{tmp}/p.conll, line 1: sentence does not match gold {tmp}/g.conll, line 3 (4 vs 4 tokens)", None),
    ("entities-unknown-tag", ["evaluate", "tag-entities", "--predictions", "{tmp}/p.conll", "--gold", "{tmp}/g.conll"], "",
     {"p.conll": "John PERSON\nlives O\nin O\nParis B-LOC\n", "g.conll": GOLD_CONLL}, None, 1,
     "{tmp}/p.conll, line 1: tag 'PERSON' is not O, or B-, I-, E-, S- and a type (B-PER)", None),
    ("entities-sentence-counts", ["evaluate", "tag-entities", "--predictions", "{tmp}/p.conll", "--gold", "{tmp}/g.conll"], "",
     {"p.conll": "John B-PER\nlives O\nin O\nParis B-LOC\n\nHi O\n", "g.conll": GOLD_CONLL}, None, 1,
     "predictions {tmp}/p.conll have 2 sentences but gold {tmp}/g.conll has 1", None),
    ("entities-tag-missing", ["evaluate", "tag-entities", "--predictions", "{tmp}/p.conll", "--gold", "{tmp}/g.conll"], "",
     {"p.conll": "John B-PER\nlives\n", "g.conll": GOLD_CONLL}, None, 1,
     "{tmp}/p.conll, line 2: expected a token and a tag, found 'lives'", None),
    ("entities-empty-gold", ["evaluate", "tag-entities", "--predictions", "{tmp}/p.conll", "--gold", "{tmp}/g.conll"], "",
     {"p.conll": "John B-PER\n", "g.conll": ""}, None, 1, "gold file {tmp}/g.conll holds no tagged tokens", None),
    ("translation-line-counts", ["evaluate", "translate", "--hyp", "{tmp}/h.txt", "--ref", "{tmp}/r.txt"], "",
     {"h.txt": "a\nb\n", "r.txt": "a\n"}, None, 1, "hypothesis {tmp}/h.txt has 2 lines but reference {tmp}/r.txt has 1", None),
    ("translation-empty-hypothesis", ["evaluate", "translate", "--hyp", "{tmp}/h.txt", "--ref", "{tmp}/r.txt"], "",
     {"h.txt": "", "r.txt": "a\n"}, None, 1, "hypothesis file {tmp}/h.txt is empty", None),
    ("summaries-line-counts", ["evaluate", "summarize", "--hyp", "{tmp}/h.txt", "--ref", "{tmp}/r.txt"], "",
     {"h.txt": "a\n", "r.txt": "a\nb\n"}, None, 1, "hypothesis {tmp}/h.txt has 1 lines but reference {tmp}/r.txt has 2", None),
    # ---- every option that takes a number or a name
    ("threads-zero", ["translate", "--threads", "0"], "a man\n", {}, None, 1, "--threads must be at least 1, got 0", None),
    ("threads-negative", ["classify-sentiment", "--threads", "-2"], "a man\n", {}, None, 1, "--threads must be at least 1, got -2", None),
    ("n-best-zero", ["translate", "--n-best", "0"], "a man\n", {}, None, 1, "--n-best must be at least 1, got 0", None),
    ("batch-size-negative", ["answer", "--context", "Anna lives in Rome .", "--batch-size", "-1"], "Where ?\n", {}, None, 1,
     "--batch-size must be at least 1, got -1", None),
    ("summary-max-len-zero", ["summarize", "--max-len", "0"], "a man\n", {}, None, 1, "--max-len must be at least 1, got 0", None),
    ("summary-min-len-negative", ["summarize", "--min-len", "-1"], "a man\n", {}, None, 1,
     "--min-len and --no-repeat-ngram must be 0 or more", None),
    ("beam-not-a-number", ["translate", "--beam", "four"], "a man\n", {}, None, 2,
     "Invalid value for '--beam': Input should be a valid integer, unable to parse string as an integer (see nlpcli translate --help)", None),
    ("unknown-output-format", ["summarize", "--format", "xml"], "a man\n", {}, None, 2,
     "Invalid value for '--format': Value error, 'xml' is not one of 'text', 'jsonl'. (see nlpcli summarize --help)", None),
    ("attention-out-unknown-extension", ["tag-entities", "--attention-out", "{tmp}/maps.txt"], "John\n", {}, None, 1,
     "--attention-out {tmp}/maps.txt: the file name must end in .json, .html, .png or .svg", None),
    ("attention-out-a-folder", ["classify-sentiment", "--attention-out", "{tmp}/maps.json"], "a man\n", {"maps.json/x": ""}, None, 1,
     "--attention-out {tmp}/maps.json: it is a folder; give a file name", None),
    ("attention-layer-out-of-range", ["translate", "--attention-out", "{tmp}/m.json", "--layer", "9"], "a man\n", {}, None, 1,
     "--layer 9: this model has layers 0 to 1", None),
    ("output-a-folder", ["translate", "-o", "{tmp}/results"], "a man\n", {"results/x": ""}, None, 1,
     "cannot write {tmp}/results: it is a folder", None),
    ("output-is-the-input", ["summarize", "-i", "{tmp}/docs.txt", "-o", "{tmp}/docs.txt"], "", {"docs.txt": "a man runs\n"}, None, 1,
     "-o {tmp}/docs.txt is the input file; write the output to another file", None),
    # ---- text at the edges, for every command: one output record per input record
    *[(f"{task}-long-line-and-mixed-scripts", TASKS[task], f"{LONG_WORD}\n{MIXED}\n", {}, None, 0, LONG_LINE_WARNINGS[task], 2)
      for task in TASKS],
    *[(f"{task}-only-blank-lines", TASKS[task], "\n \n\t\n\n", {}, None, 0, "", 4) for task in TASKS],
    ("answer-context-longer-than-a-file-name", ["answer", "--context", "Anna lives in Rome . " * 30], "Where does Anna live ?\n",
     {}, None, 0, "", 1),
]


def test_the_table_is_broad():
    assert len(CASES) >= 40 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("name, args, stdin, files, breaks, code, message, records", CASES, ids=[case[0] for case in CASES])
def test_bad_input(toy_checkpoint, toy_tasks_checkpoint, tmp_path, name, args, stdin, files, breaks, code, message, records):
    for relative, content in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(content)
    checkpoint = toy_tasks_checkpoint
    if breaks:
        checkpoint = tmp_path / "ckpt"
        shutil.copytree(toy_checkpoint, checkpoint)
        breaks(checkpoint)
    fill = {"ckpt": checkpoint, "tmp": tmp_path}
    args = [arg.format(**fill) for arg in args]
    if args[0] != "evaluate":
        args[1:1] = ["-c", str(checkpoint)]
        if code and "-o" not in args:
            (tmp_path / "out.txt").write_text(EARLIER)
            args += ["-o", str(tmp_path / "out.txt")]
    inputs = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    result = nlpcli(*args, stdin=stdin)
    error = result.stderr.decode()
    assert result.returncode == code, error
    if code:
        expected = f"nlpcli: error: {message.format(**fill)}"
        if message.endswith(": "):  # the rest is the library's own words (SentencePiece, safetensors)
            assert error.startswith(expected) and error.count("\n") == 1 and "Traceback" not in error, error
        else:
            assert error == expected + "\n"
        assert result.stdout == b""
    else:
        assert error == message
        assert len(result.stdout.decode().split("\n")[:-1]) == records
    assert {path: path.read_bytes() for path in inputs} == inputs  # every input and the earlier output kept
    assert not list(tmp_path.glob("*.partial"))
