"""The scorers of `nlpcli evaluate` against independent oracles: rouge-score itself,
the official SQuAD v1.1 evaluation script's arithmetic, and conlleval.pl's counting
rules, each written out here, on generated files that cover the awkward cases."""
import json
import random
import re
import string
from collections import Counter

import pytest

from nlpcli.metrics import answer_f1, normalize_answer
from test_cli import run_in_process


def evaluate_json(*args) -> dict:
    code, out, error = run_in_process("evaluate", *args, "--json")
    assert code == 0, error
    return json.loads(out)


# ---- ROUGE: rouge-score's own per-document F1, averaged over documents ----------
def test_rouge_equals_rouge_score_averaged_over_documents(tmp_path):
    from rouge_score import rouge_scorer

    rng = random.Random(11)
    words = ["the", "cat", "cats", "sat", "sitting", "on", "mat", "mats", "running", "runs", "dog", "Dogs", "a",
             "park", "parks", "quickly", "quick", "U.S.", "profit", "profits", "rose", "rising", "20%", "Zürich"]
    hypotheses, references = [], []
    for _ in range(60):
        reference = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        hypothesis = [w if rng.random() < 0.6 else rng.choice(words) for w in reference]
        if rng.random() < 0.3:
            rng.shuffle(hypothesis)
        hypotheses.append(" ".join(hypothesis[: rng.randint(1, len(hypothesis))]))
        references.append(" ".join(reference))
    hypotheses += ["", "the cat", "Running, RUNNING!"]  # an empty summary scores 0; case and punctuation
    references += ["the cat sat", "", "runs"]
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("".join(h + "\n" for h in hypotheses))
    ref.write_text("".join(r + "\n" for r in references))

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = [scorer.score(r, h) for h, r in zip(hypotheses, references)]
    report = evaluate_json("summarize", "--hyp", hyp, "--ref", ref)
    assert report["documents"] == len(hypotheses)
    for name in ("rouge1", "rouge2", "rougeL"):
        oracle = 100 * sum(s[name].fmeasure for s in scores) / len(scores)
        assert report[name] == pytest.approx(oracle, abs=0.005 + 1e-9), name
    # the oracle is not trivially equal to what a scorer without stemming gives
    plain = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)
    unstemmed = 100 * sum(plain.score(r, h)["rouge1"].fmeasure for h, r in zip(hypotheses, references)) / len(scores)
    assert abs(unstemmed - report["rouge1"]) > 0.5


# ---- SQuAD v1.1: the official evaluate-v1.1.py, function for function ------------
def official_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def official_exact_match_score(prediction, ground_truth):
    return (official_normalize_answer(prediction) == official_normalize_answer(ground_truth))


def official_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def official_evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article['paragraphs']:
            for qa in paragraph['qas']:
                total += 1
                if qa['id'] not in predictions:
                    continue
                ground_truths = list(map(lambda x: x['text'], qa['answers']))
                prediction = predictions[qa['id']]
                exact_match += official_metric_max_over_ground_truths(
                    official_exact_match_score, prediction, ground_truths)
                f1 += official_metric_max_over_ground_truths(
                    official_f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total

    return {'exact_match': exact_match, 'f1': f1}


def squad_cases(seed: int) -> tuple[dict, dict, list[tuple[str, list[str]]]]:
    """A SQuAD v1.1 file of generated questions (1-3 gold answers each) and predictions
    made from the gold answers the ways systems get them wrong."""
    rng = random.Random(seed)
    words = ["Paris", "the", "Eiffel", "Tower", "an", "A", "1889", "Gustave", "company", "of", "tower", "Denver",
             "Broncos", "’s", "naïve", "café", "U.S.", "(", ")", "–", "\u00a0", "won", "won", "Super", "Bowl", "50"]
    gold = [[" ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 3))]
            for _ in range(150)]
    gold += [["The"], ["the cat"], ["a, an; the!"], ["1,000"], ["won won won"]]  # answers that normalise to little

    def mangle(answers: list[str]) -> str | None:
        answer = rng.choice(answers)
        choice = rng.randrange(9)
        if choice == 0:
            return None  # unanswered: scores 0
        if choice == 1:
            return answer.upper()
        if choice == 2:
            return f"the {answer}."
        if choice == 3:
            return " ".join(answer.split()[: max(1, len(answer.split()) // 2)])
        if choice == 4:
            return f"{answer} {rng.choice(words)} {rng.choice(words)}"
        if choice == 5:
            return ""
        if choice == 6:
            return " ".join([answer.split()[0]] * 3)  # repeated words: counted with multiplicity
        if choice == 7:
            return " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        return answer

    predictions, paragraphs, pairs = {}, [], []
    for number, answers in enumerate(gold):
        context = " ".join(answers) + " ."
        qid = f"q{number}"
        paragraphs.append({"context": context, "qas": [{"id": qid, "question": "What?", "answers": [
            {"text": a, "answer_start": context.index(a)} for a in answers]}]})
        prediction = mangle(answers) if number < 150 else "the"
        if prediction is not None:
            predictions[qid] = prediction
            pairs += [(prediction, answers)]
    return {"version": "1.1", "data": [{"title": "Generated", "paragraphs": paragraphs}]}, predictions, pairs


def test_squad_scores_equal_the_official_v1_1_arithmetic(tmp_path):
    data, predictions, pairs = squad_cases(seed=3)
    for prediction, answers in pairs:  # question by question, gold answer by gold answer
        assert normalize_answer(prediction) == official_normalize_answer(prediction), prediction
        for gold in answers:
            assert normalize_answer(gold) == official_normalize_answer(gold), gold
            assert answer_f1(prediction, gold) == pytest.approx(official_f1_score(prediction, gold), abs=1e-12)
    unanswered = sum(len(p["qas"]) for p in data["data"][0]["paragraphs"]) - len(predictions)
    assert unanswered > 0 and any(p == "" for p, _ in pairs)

    (tmp_path / "data.json").write_text(json.dumps(data, ensure_ascii=False))
    (tmp_path / "pred.json").write_text(json.dumps(predictions, ensure_ascii=False))
    report = evaluate_json("answer", "--predictions", tmp_path / "pred.json", "--data", tmp_path / "data.json")
    oracle = official_evaluate(data["data"], predictions)
    assert report["exact_match"] == pytest.approx(oracle["exact_match"], abs=0.005 + 1e-9)
    assert report["f1"] == pytest.approx(oracle["f1"], abs=0.005 + 1e-9)
    assert report["questions"] == 155 and report["unanswered"] == unanswered
    assert 0 < oracle["exact_match"] < oracle["f1"] < 100  # the cases are neither all right nor all wrong


# ---- conlleval: its perl logic, line by line ---------------------------------------
def conlleval_counts(lines: list[str]) -> dict:
    """conlleval.pl (2004-01-26) on 'token gold guess' lines with blank lines between
    sentences: its startOfChunk/endOfChunk rules, its state machine, its counters."""
    def split_tag(tag):  # ($tag, $type) = split(/-/, $tag); $type = $type ? $type : ""
        parts = tag.split("-")
        return parts[0], (parts[1] if len(parts) > 1 and parts[1] else "")

    def end_of_chunk(prev_tag, tag, prev_type, type_):
        chunk_end = False
        if prev_tag == "B" and tag == "B": chunk_end = True  # noqa: E701 - as the perl reads
        if prev_tag == "B" and tag == "O": chunk_end = True  # noqa: E701
        if prev_tag == "I" and tag == "B": chunk_end = True  # noqa: E701
        if prev_tag == "I" and tag == "O": chunk_end = True  # noqa: E701
        if prev_tag == "E" and tag == "E": chunk_end = True  # noqa: E701
        if prev_tag == "E" and tag == "I": chunk_end = True  # noqa: E701
        if prev_tag == "E" and tag == "O": chunk_end = True  # noqa: E701
        if prev_tag == "I" and tag == "O": chunk_end = True  # noqa: E701
        if prev_tag != "O" and prev_tag != "." and prev_type != type_: chunk_end = True  # noqa: E701
        if prev_tag == "]": chunk_end = True  # noqa: E701
        if prev_tag == "[": chunk_end = True  # noqa: E701
        return chunk_end

    def start_of_chunk(prev_tag, tag, prev_type, type_):
        chunk_start = False
        if prev_tag == "B" and tag == "B": chunk_start = True  # noqa: E701
        if prev_tag == "I" and tag == "B": chunk_start = True  # noqa: E701
        if prev_tag == "O" and tag == "B": chunk_start = True  # noqa: E701
        if prev_tag == "O" and tag == "I": chunk_start = True  # noqa: E701
        if prev_tag == "E" and tag == "E": chunk_start = True  # noqa: E701
        if prev_tag == "E" and tag == "I": chunk_start = True  # noqa: E701
        if prev_tag == "O" and tag == "E": chunk_start = True  # noqa: E701
        if prev_tag == "O" and tag == "I": chunk_start = True  # noqa: E701
        if tag != "O" and tag != "." and prev_type != type_: chunk_start = True  # noqa: E701
        if tag == "[": chunk_start = True  # noqa: E701
        if tag == "]": chunk_start = True  # noqa: E701
        return chunk_start

    boundary = "-X-"
    correct_chunk, found_correct, found_guessed = Counter(), Counter(), Counter()
    token_counter = correct_tags = 0
    in_correct = False
    last_correct, last_correct_type, last_guessed, last_guessed_type = "O", "", "O", ""
    for line in lines:
        features = line.split()
        if not features or features[0] == boundary:
            features = [boundary, "O", "O"]
        guessed, guessed_type = split_tag(features.pop())
        correct, correct_type = split_tag(features.pop())
        first_item = features.pop(0)
        if first_item == boundary:
            guessed = "O"
        if in_correct:
            correct_ends = end_of_chunk(last_correct, correct, last_correct_type, correct_type)
            guessed_ends = end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
            if correct_ends and guessed_ends and last_guessed_type == last_correct_type:
                in_correct = False
                correct_chunk[last_correct_type] += 1
            elif correct_ends != guessed_ends or guessed_type != correct_type:
                in_correct = False
        correct_starts = start_of_chunk(last_correct, correct, last_correct_type, correct_type)
        guessed_starts = start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if correct_starts and guessed_starts and guessed_type == correct_type:
            in_correct = True
        if correct_starts:
            found_correct[correct_type] += 1
        if guessed_starts:
            found_guessed[guessed_type] += 1
        if first_item != boundary:
            if correct == guessed and guessed_type == correct_type:
                correct_tags += 1
            token_counter += 1
        last_guessed, last_correct, last_guessed_type, last_correct_type = guessed, correct, guessed_type, correct_type
    if in_correct:
        correct_chunk[last_correct_type] += 1
    return {"correct": correct_chunk, "gold": found_correct, "guessed": found_guessed,
            "tokens": token_counter, "correct_tags": correct_tags}


# hand-written sentences (gold, guess) with each chunk edge case, then random ones
EDGE_CASES = [
    ("O I-PER I-PER O", "O B-PER I-PER O"),  # I- after O opens a chunk (gold)
    ("B-PER I-PER O", "O I-PER I-PER"),  # ... and in the guess, shifted
    ("I-LOC I-LOC", "B-LOC I-LOC"),  # I- at the start of a sentence
    ("B-PER I-LOC O", "B-PER I-PER O"),  # the type changes inside a chunk
    ("B-ORG I-ORG I-MISC", "B-ORG I-ORG I-ORG"),
    ("B-PER I-PER B-PER", "B-PER I-PER I-PER"),  # B after I of the same type: two chunks
    ("I-PER B-PER", "I-PER I-PER"),
    ("B-LOC B-LOC", "B-LOC I-LOC"),  # B after B
    ("B-LOC B-LOC", "B-LOC B-LOC"),
    ("O B-MISC", "O B-MISC"),  # a chunk that ends with the sentence ...
    ("I-MISC O", "I-MISC O"),  # ... and one in the next sentence: the boundary separates them
    ("B-PER", "B-PER"),  # one-token sentences across a boundary
    ("I-PER", "B-PER"),
    ("O O O", "B-ORG I-ORG O"),  # guessed chunks where gold has none
    ("B-ORG I-ORG O", "O O O"),
    ("B-PER I-PER I-PER", "B-PER I-PER O"),  # the guess ends early
    ("B-PER O", "B-PER I-PER"),  # the guess runs on
    ("B-LOC I-LOC", "B-ORG I-ORG"),  # same span, other type
    ("O", "O"),
    ("B-MISC I-MISC B-MISC I-MISC", "B-MISC I-MISC I-MISC I-MISC"),
    ("B-PER I-PER O B-LOC", "B-PER I-LOC O B-LOC"),
]


def conll_edge_cases(seed: int) -> list[tuple[list[str], list[str]]]:
    sentences = [(g.split(), p.split()) for g, p in EDGE_CASES]
    rng = random.Random(seed)
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    for _ in range(400):
        gold = [rng.choice(tags) for _ in range(rng.randint(1, 8))]
        guess = [t if rng.random() < 0.6 else rng.choice(tags) for t in gold]
        sentences.append((gold, guess))
    return sentences


def test_entity_scores_count_what_conlleval_counts(tmp_path):
    sentences = conll_edge_cases(seed=5)
    for side in (0, 1):  # gold and guess each hold every case
        neighbours = [(a, b) for sentence in sentences for a, b in zip(sentence[side], sentence[side][1:])]
        assert any(a == "O" and b.startswith("I-") for a, b in neighbours)  # I- after O
        assert any(a != "O" and b.startswith("I-") and a[2:] != b[2:] for a, b in neighbours)  # type change in a chunk
        assert any(a.startswith("I-") and b == f"B-{a[2:]}" for a, b in neighbours)  # B after I
        assert any(a.startswith("B-") and b == a for a, b in neighbours)  # B after B
        assert any(this[side][-1] != "O" and following[side][0].startswith("I-")  # a chunk across a sentence boundary
                   for this, following in zip(sentences, sentences[1:]))

    gold_file, guess_file = tmp_path / "gold.conll", tmp_path / "pred.conll"
    gold_file.write_text("-DOCSTART- -X- -X- O\n\n" + "".join(
        "".join(f"w{i} NNP B-NP {tag}\n" for i, tag in enumerate(gold)) + "\n" for gold, _ in sentences))
    guess_file.write_text("".join("".join(f"w{i}\t{tag}\n" for i, tag in enumerate(guess)) + "\n" for _, guess in sentences))
    merged = [line for gold, guess in sentences for line in [f"w{i} {g} {p}" for i, (g, p) in enumerate(zip(gold, guess))] + [""]]
    oracle = conlleval_counts(merged)
    report = evaluate_json("tag-entities", "--predictions", guess_file, "--gold", gold_file)

    def prf(correct, guessed, gold):
        precision = 100 * correct / guessed if guessed else 0.0
        recall = 100 * correct / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    correct, guessed, gold = (sum(oracle[k].values()) for k in ("correct", "guessed", "gold"))
    assert (report["phrases_gold"], report["phrases_predicted"]) == (gold, guessed)
    for key, value in zip(("precision", "recall", "f1"), prf(correct, guessed, gold)):
        assert report[key] == pytest.approx(value, abs=0.005 + 1e-9), key
    assert report["token_accuracy"] == pytest.approx(100 * oracle["correct_tags"] / oracle["tokens"], abs=0.005 + 1e-9)
    assert set(report["per_type"]) == set(oracle["gold"]) | set(oracle["guessed"]) == {"PER", "LOC", "ORG", "MISC"}
    for kind, scores in report["per_type"].items():
        assert scores["predicted"] == oracle["guessed"][kind], kind
        expected = prf(oracle["correct"][kind], oracle["guessed"][kind], oracle["gold"][kind])
        assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx(expected, abs=0.005 + 1e-9), kind
    assert 0 < correct < min(gold, guessed)


@pytest.mark.parametrize("gold, guess", EDGE_CASES)
def test_each_chunk_edge_case_counts_as_conlleval_counts(gold, guess):
    from nlpcli.metrics import conlleval_report

    oracle = conlleval_counts([f"w {g} {p}" for g, p in zip(gold.split(), guess.split())] + [""])
    report = conlleval_report([gold.split()], [guess.split()])
    correct, guessed, found = (sum(oracle[k].values()) for k in ("correct", "guessed", "gold"))
    assert (report["phrases_gold"], report["phrases_predicted"]) == (found, guessed)
    assert report["precision"] == (round(100 * correct / guessed, 2) if guessed else 0.0)
    assert report["recall"] == (round(100 * correct / found, 2) if found else 0.0)
    assert {kind: scores["predicted"] for kind, scores in report["per_type"].items()} == \
        {kind: oracle["guessed"][kind] for kind in set(oracle["gold"]) | set(oracle["guessed"])}
