"""One temperature per task, fitted on dev, applied to the reported probabilities."""
import json

import pytest
import torch

from nlpcli.calibration import calibrate, calibration_report, expected_calibration_error, fit_temperature, nll
from nlpcli.checkpoint import load_checkpoint


def synthetic(sharpen: float, n: int = 4000, classes: int = 5, seed: int = 0):
    """Labels drawn from softmax(true logits); the "model" reports true logits x sharpen."""
    generator = torch.Generator().manual_seed(seed)
    true_logits = torch.randn(n, classes, generator=generator) * 2
    labels = torch.multinomial(true_logits.softmax(-1), 1, generator=generator).squeeze(1)
    return true_logits * sharpen, labels


def test_the_fitted_temperature_undoes_over_confidence():
    logits, labels = synthetic(sharpen=4.0)
    temperature = fit_temperature(logits, labels)
    assert 3.4 < temperature < 4.6  # the logits were sharpened 4 times
    assert nll(logits, labels, temperature) < nll(logits, labels) - 0.5
    report = calibration_report(logits, labels, temperature)
    assert report["ece_after"] < report["ece_before"] / 3 and report["nll_after"] < report["nll_before"]


def test_an_under_confident_model_gets_a_temperature_below_1_and_a_calibrated_one_about_1():
    logits, labels = synthetic(sharpen=0.5, seed=1)
    assert 0.4 < fit_temperature(logits, labels) < 0.6
    logits, labels = synthetic(sharpen=1.0, seed=2)
    assert 0.9 < fit_temperature(logits, labels) < 1.1


def test_expected_calibration_error():
    confidences = torch.tensor([0.9] * 10 + [0.6] * 10)
    correct = torch.tensor([1] * 9 + [0] + [1] * 3 + [0] * 7)  # 90 % right at 0.9, 30 % right at 0.6
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.5 * 0.0 + 0.5 * 0.3)
    assert expected_calibration_error(torch.tensor([1.0, 1.0]), torch.tensor([1, 1])) == 0


@pytest.fixture
def release1():
    torch.set_num_threads(1)
    return load_checkpoint("checkpoints/nlpcli-base")


def test_temperatures_move_the_reported_probabilities_and_nothing_else(release1):
    from nlpcli.tasks.answer import QuestionAnswerer
    from nlpcli.tasks.entities import EntityTagger
    from nlpcli.tasks.sentiment import SentimentClassifier

    model, tok = release1.model, release1.tokenizer
    assert (model.config.sentiment_temperature, model.config.entity_temperature, model.config.answer_temperature) == (1, 1, 1)
    texts = ["Not bad at all.", "A wonderful, moving film."]
    words = [["Angela", "Merkel", "visited", "Paris", "."]]
    context = "The Eiffel Tower was completed in 1889 in Paris."
    before = (SentimentClassifier(model, tok).classify(texts)[0], EntityTagger(model, tok).tag_words(words)[0],
              QuestionAnswerer(model, tok).answer([("When was the tower completed?", context)]))
    model.config.sentiment_temperature = model.config.entity_temperature = model.config.answer_temperature = 3.0
    after = (SentimentClassifier(model, tok).classify(texts)[0], EntityTagger(model, tok).tag_words(words)[0],
             QuestionAnswerer(model, tok).answer([("When was the tower completed?", context)]))
    assert [s.label for s in after[0]] == [s.label for s in before[0]]
    assert all(0.5 <= a.score < b.score for a, b in zip(after[0], before[0]))  # softer, same decision
    assert [t for t, _ in after[1][0]] == [t for t, _ in before[1][0]]
    assert all(a <= b + 1e-9 for (_, a), (_, b) in zip(after[1][0], before[1][0]) if b > 0.5)
    assert (after[2][0].text, after[2][0].start) == (before[2][0].text, before[2][0].start)
    assert after[2][0].score < before[2][0].score


def test_calibrate_fits_each_task_on_dev_pools_and_the_checkpoint_keeps_it(release1, tmp_path):
    from nlpcli.checkpoint import CheckpointInfo, save_checkpoint
    from nlpcli.tasks import TASKS

    encode_sentiment = TASKS["classify-sentiment"].pool

    spec = type("Spec", (), {"name": "dev", "weight": 1.0})()
    examples = [{"text": text, "label": label} for text, label in [
        ("A wonderful, moving film.", 1), ("A dull and boring mess.", 0), ("Not bad at all.", 1), ("I hated every minute.", 0),
        ("Great acting, weak plot.", 1), ("An absolute joy.", 1), ("Terrible.", 0), ("I wanted to like it, but no.", 0)]]
    pool = encode_sentiment(spec, examples, release1.tokenizer, 64)
    reports = calibrate(release1.model, {"classify-sentiment": [pool]}, release1.tokenizer.pad_id)
    report = reports["classify-sentiment"]
    assert release1.model.config.sentiment_temperature == report["temperature"] != 1.0
    assert report["nll_after"] <= report["nll_before"]
    save_checkpoint(tmp_path / "calibrated", release1.model, release1.tokenizer, CheckpointInfo(tasks={"classify-sentiment": {}}))
    assert json.loads((tmp_path / "calibrated" / "config.json").read_text())["model"]["sentiment_temperature"] == report["temperature"]
    assert load_checkpoint(tmp_path / "calibrated").model.config.sentiment_temperature == report["temperature"]


def test_calibrate_reads_entity_tags_and_answer_boundaries(release1):
    from nlpcli.calibration import dev_logits
    from nlpcli.tasks import TASKS

    encode_answers, encode_entities = TASKS["answer"].pool, TASKS["tag-entities"].pool

    spec = type("Spec", (), {"name": "dev", "weight": 1.0})()
    tok, pad_id = release1.tokenizer, release1.tokenizer.pad_id
    entities = encode_entities(spec, [{"tokens": ["Angela", "Merkel", "visited", "Paris"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]},
                                      {"tokens": ["Siemens", "grew"], "tags": ["B-ORG", "O"]}], tok, 64)
    logits, labels = dev_logits(release1.model, "tag-entities", [entities], pad_id)
    assert logits.shape == (6, 9) and labels.tolist() == [1, 2, 0, 5, 3, 0]  # one row per word
    short, long = "Paris is in France.", "The Eiffel Tower was completed in 1889 in Paris, France."
    answers = encode_answers(spec, [{"question": "Where is Paris?", "context": short, "answer": "France", "answer_start": 12},
                                    {"question": "When?", "context": long, "answer": "1889", "answer_start": 34}], tok, 256)
    logits, labels = dev_logits(release1.model, "answer", [answers], pad_id)
    assert logits.size(0) == 4 and labels[0] <= labels[1] and labels[2] <= labels[3]  # start, end of each window
    assert torch.isinf(logits[0]).sum() > 0 and torch.isfinite(logits[2]).all()  # the shorter window is padded
    reports = calibrate(release1.model, {"tag-entities": [entities], "answer": [answers]}, pad_id)
    assert set(reports) == {"tag-entities", "answer"} and release1.model.config.answer_temperature == reports["answer"]["temperature"]
