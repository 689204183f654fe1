"""Metric functions against hand-computed examples."""
import json

import pytest

from nlpcli.data.conll import read_conll
from nlpcli.data.squad import Question, read_squad
from nlpcli.errors import InputError
from nlpcli.evaluate import read_labels
from nlpcli.metrics import answer_f1, classification_report, conlleval_report, normalize_answer, rouge_report, squad_report


def test_squad_normalisation_and_f1():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("an apple a day") == "apple day"
    assert answer_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)  # P 2/2, R 2/3
    assert answer_f1("dog", "cat") == 0.0


def test_squad_report_takes_the_best_gold_answer_and_zero_for_unanswered():
    questions = [Question("q1", "?", "c", ["Paris", "the city of Paris"], [0, 0]),
                 Question("q2", "?", "c", ["1858"], [0]),
                 Question("q3", "?", "c", ["blue whale"], [0])]
    report = squad_report({"q1": "city of Paris", "q2": "in 1858"}, questions)
    # q1: EM 1 (matches the second gold), F1 1; q2: EM 0, F1 2/3; q3: unanswered
    assert report["exact_match"] == pytest.approx(100 / 3, abs=0.01)
    assert report["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3, abs=0.01)
    assert report["unanswered"] == 1


def test_rouge_by_hand():
    report = rouge_report(["the cat sat"], ["the cat sat on the mat"])
    assert report["rouge1"] == pytest.approx(66.67, abs=0.01)  # P 3/3, R 3/6
    assert report["rouge2"] == pytest.approx(57.14, abs=0.01)  # P 2/2, R 2/5
    assert report["rougeL"] == pytest.approx(66.67, abs=0.01)  # LCS 3
    assert report["documents"] == 1
    assert rouge_report(["cats running"], ["cat runs"])["rouge1"] == 100.0  # Porter stemming


def test_accuracy_and_macro_f1_by_hand():
    report = classification_report(["positive", "positive", "negative", "negative"],
                                   ["positive", "negative", "negative", "negative"])
    assert report["accuracy"] == 75.0
    assert report["per_label"]["positive"]["f1"] == pytest.approx(66.67, abs=0.01)
    assert report["per_label"]["negative"]["f1"] == pytest.approx(80.0)
    # the mean of the unrounded per-label F1s (release 1 averaged the rounded ones: 73.34)
    assert report["macro_f1"] == pytest.approx(100 * (2 / 3 + 0.8) / 2, abs=0.005)


@pytest.mark.parametrize("gold, predicted, expected", [
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-ORG"], (50.0, 50.0)),
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-LOC"], (50.0, 50.0)),  # PER ends too early
    (["O", "I-PER", "I-PER"], ["O", "B-PER", "I-PER"], (100.0, 100.0)),  # I- after O opens a chunk
    (["B-LOC", "B-LOC"], ["B-LOC", "I-LOC"], (0.0, 0.0)),  # two chunks vs one
    (["O", "O"], ["B-MISC", "O"], (0.0, 0.0)),
])
def test_conlleval_counting(gold, predicted, expected):
    report = conlleval_report([gold], [predicted])
    assert (report["precision"], report["recall"]) == expected


def test_conlleval_per_type_and_sentence_boundaries():
    report = conlleval_report([["B-PER"], ["I-PER", "B-ORG"]], [["B-PER"], ["I-PER", "B-ORG"]])
    assert report["phrases_gold"] == 3 and report["f1"] == 100.0  # a boundary closes the first PER
    assert set(report["per_type"]) == {"PER", "ORG"} and report["per_type"]["PER"]["predicted"] == 2


def test_conll_reader_skips_docstart_and_names_bad_lines():
    text = ["-DOCSTART- -X- -X- O", "", "EU NNP B-NP B-ORG", "rejects VBZ B-VP O", "", "Peter NNP B-NP B-PER", ""]
    sentences = read_conll(text, "g.txt")
    assert [s.tokens for s in sentences] == [["EU", "rejects"], ["Peter"]]
    assert sentences[0].tags == ["B-ORG", "O"] and sentences[1].lines == [6]
    with pytest.raises(InputError, match="g.txt, line 2: expected a token and a tag"):
        read_conll(["EU B-ORG", "lonely", ""], "g.txt")


def test_sentiment_label_files(tmp_path):
    glue = tmp_path / "dev.tsv"
    glue.write_text("sentence\tlabel\na fine film \t1\ndull \t0\n")
    assert read_labels(str(glue)) == ["positive", "negative"]
    ours = tmp_path / "pred.txt"
    ours.write_text("positive\t0.91\nnegative\t0.77\n")
    assert read_labels(str(ours)) == ["positive", "negative"]
    jsonl = tmp_path / "pred.jsonl"
    jsonl.write_text('{"text": "x", "label": "negative", "score": 0.6}\n{"text": "y"}\n')
    with pytest.raises(InputError, match="pred.jsonl, line 2: no \"label\" field"):
        read_labels(str(jsonl))
    bad = tmp_path / "bad.txt"
    bad.write_text("positive\nneutral\n")
    with pytest.raises(InputError, match="bad.txt, line 2: label 'neutral'"):
        read_labels(str(bad))


def test_squad_reader_names_a_missing_key(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "Paris is big.",
                                "qas": [{"id": "1", "question": "What?", "answers": [{"text": "Paris", "answer_start": 0}]}]}]}]}))
    assert read_squad(path)[0].answers == ["Paris"]
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "answers": []}]}]}]}))
    with pytest.raises(InputError, match=r"data\[0\].paragraphs\[0\].qas\[0\] has no 'question'"):
        read_squad(path)
