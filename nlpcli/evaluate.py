"""``nlpcli evaluate <task>``: score system output against references."""
from __future__ import annotations

from nlpcli.errors import InputError
from nlpcli.metrics import translation_report
from nlpcli.textio import input_name, open_input, read_records


def read_all_lines(path: str | None) -> list[str]:
    """Every line of a file (or stdin for '-'), with errors naming file and line."""
    stream = open_input(path)
    try:
        return [record.text for record in read_records(stream, input_name(path))]
    finally:
        if path not in (None, "-"):
            stream.close()


def check_parallel(hypotheses: list[str], hyp_path: str, references: dict[str, list[str]]) -> None:
    if not hypotheses:
        raise InputError(f"hypothesis file {hyp_path} is empty")
    for ref_path, lines in references.items():
        if len(lines) != len(hypotheses):
            raise InputError(
                f"hypothesis {hyp_path} has {len(hypotheses)} lines but reference {ref_path} has {len(lines)}"
            )


def evaluate_translation(hyp_path: str, ref_paths: list[str], metrics: list[str], as_json: bool = False) -> str:
    unknown = [m for m in metrics if m not in ("bleu", "chrf", "ter")]
    if unknown:
        raise InputError(f"unknown translation metric(s) {', '.join(unknown)}; choose from bleu, chrf, ter")
    hypotheses = read_all_lines(hyp_path)
    references = {path: read_all_lines(path) for path in ref_paths}
    check_parallel(hypotheses, hyp_path, references)
    return translation_report(hypotheses, list(references.values()), metrics, as_json)


def evaluate_summaries(hyp_path: str, ref_path: str) -> dict:
    from nlpcli.metrics import rouge_report

    hypotheses, references = read_all_lines(hyp_path), read_all_lines(ref_path)
    check_parallel(hypotheses, hyp_path, {ref_path: references})
    return rouge_report(hypotheses, references)


def evaluate_answers(predictions_path: str, data_path: str) -> dict:
    """Predictions as the official SQuAD v1.1 script reads them: one JSON object {id: answer text}."""
    import json

    from nlpcli.data.squad import read_squad
    from nlpcli.metrics import squad_report

    stream = open_input(predictions_path)
    try:
        predictions = json.loads(stream.read().decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        if not error.doc.strip():
            raise InputError(f"predictions file {input_name(predictions_path)} is empty") from None
        raise InputError(f"{input_name(predictions_path)}: not a JSON object of answers ({error})") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{input_name(predictions_path)}: not a JSON object of answers ({error})") from None
    finally:
        if predictions_path not in (None, "-"):
            stream.close()
    check_answer_predictions(predictions, input_name(predictions_path))
    questions = read_squad(data_path)
    if not questions:
        raise InputError(f"{data_path} holds no questions")
    unknown = sorted(set(predictions) - {q.id for q in questions})
    if unknown:
        raise InputError(f"{input_name(predictions_path)}: {len(unknown)} id(s) not in {data_path}, e.g. {unknown[0]!r}")
    return squad_report(predictions, questions)


def check_answer_predictions(predictions, name: str) -> None:
    """The official script's input: one JSON object of {id: answer text}."""
    if not isinstance(predictions, dict):
        raise InputError(f"{name}: expected one JSON object {{\"id\": \"answer text\"}}, found {type(predictions).__name__}")
    for key, value in predictions.items():
        if not isinstance(value, str):
            raise InputError(f"{name}: the answer of {key!r} must be a string, found {type(value).__name__}")


SENTIMENT_LABELS = {"positive": "positive", "pos": "positive", "1": "positive",
                    "negative": "negative", "neg": "negative", "0": "negative"}


def read_labels(path: str) -> list[str]:
    """Sentiment labels, one record a line: ``label[<TAB>...]`` text (nlpcli's output),
    jsonl with a "label" field, or a GLUE TSV whose header has a ``label`` column.
    0/1 and neg/pos are read as negative/positive."""
    import json

    lines = read_all_lines(path)
    name = input_name(path)
    label_column = 0
    if lines and "label" in lines[0].split("\t") and not lines[0].lstrip().startswith("{"):
        label_column = lines[0].split("\t").index("label")
        lines = [None] + lines[1:]  # the header keeps line numbers right
    labels = []
    for number, line in enumerate(lines, start=1):
        if line is None:
            continue
        if line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{name}, line {number}: invalid JSON ({error.msg})") from None
            if not isinstance(record, dict) or "label" not in record:
                raise InputError(f"{name}, line {number}: no \"label\" field")
            raw = str(record["label"])
        else:
            cells = line.split("\t")
            raw = cells[label_column].strip() if len(cells) > label_column else ""
        label = SENTIMENT_LABELS.get(raw.lower())
        if label is None:
            raise InputError(f"{name}, line {number}: label {raw!r} is not positive/negative (or 1/0, pos/neg)")
        labels.append(label)
    return labels


def evaluate_sentiment(predictions_path: str, gold_path: str) -> dict:
    from nlpcli.metrics import classification_report

    predicted, gold = read_labels(predictions_path), read_labels(gold_path)
    check_parallel(predicted, predictions_path, {gold_path: gold})
    return classification_report(predicted, gold)


def evaluate_entities(predictions_path: str, gold_path: str) -> dict:
    """Both files CoNLL, tag in the last column; tokens must line up sentence by sentence."""
    from nlpcli.data.conll import read_conll
    from nlpcli.metrics import conlleval_report

    predicted = read_conll(read_all_lines(predictions_path), input_name(predictions_path))
    gold = read_conll(read_all_lines(gold_path), input_name(gold_path))
    if not gold:
        raise InputError(f"gold file {gold_path} holds no tagged tokens")
    if len(predicted) != len(gold):
        raise InputError(f"predictions {predictions_path} have {len(predicted)} sentences but gold {gold_path} has {len(gold)}")
    for p, g in zip(predicted, gold):
        if p.tokens != g.tokens:
            raise InputError(f"{predictions_path}, line {p.lines[0]}: sentence does not match gold {gold_path}, "
                             f"line {g.lines[0]} ({len(p.tokens)} vs {len(g.tokens)} tokens)")
    return conlleval_report([g.tags for g in gold], [p.tags for p in predicted])
