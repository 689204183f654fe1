"""nlpcli evaluate: intervals, paired tests, several references, per-record scores,
calibration and run-and-score, against sacrebleu and rouge-score themselves."""
import json
import random
import subprocess
import sys

import numpy as np
import pytest
from rouge_score import rouge_scorer

from nlpcli.errors import InputError
from nlpcli.evaluate import EvaluationOptions, read_sentiment, score
from nlpcli.metrics import METRICS, Classification, Conlleval, Rouge, SquadAnswers
from nlpcli.metrics.calibration import calibration_report
from nlpcli.metrics.resampling import approximate_randomization, bootstrap_intervals, paired_bootstrap
from test_cli import ENV, lines, nlpcli

WORDS = "the a cat dog sat ran on mat park home big small red green today".split()


def sentences(rng, n):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def noisy(rng, lines_, rate):
    return [" ".join(w if rng.random() > rate else rng.choice(WORDS) for w in line.split()) for line in lines_]


def write(path, lines_):
    path.write_text("".join(line + "\n" for line in lines_))
    return path


@pytest.fixture
def translation_files(tmp_path):
    rng = random.Random(1)
    refs = sentences(rng, 60)
    return {"ref": write(tmp_path / "ref.txt", refs), "ref2": write(tmp_path / "ref2.txt", noisy(rng, refs, 0.2)),
            "base": write(tmp_path / "base.txt", noisy(rng, refs, 0.3)), "other": write(tmp_path / "other.txt", noisy(rng, refs, 0.5)),
            "copy": write(tmp_path / "copy.txt", (tmp_path / "base.txt").read_text().splitlines())}


def sacrebleu(*args, seed="12345"):
    result = subprocess.run([sys.executable, "-m", "sacrebleu", *map(str, args)], capture_output=True,
                            env={**ENV, "SACREBLEU_SEED": seed})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_translation_interval_and_paired_tests_equal_sacrebleus(translation_files):
    f = translation_files
    ours = nlpcli("evaluate", "translate", "--hyp", f["base"], "--ref", f["ref"], "--ref", f["ref2"],
                  "--confidence", "--confidence-n", "300", "--seed", "7", "--json")
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == sacrebleu(f["ref"], f["ref2"], "-i", f["base"], "-m", "bleu", "chrf", "ter",
                                    "--confidence", "-cin", "300", seed="7")
    assert "bs:300|seed:7" in json.loads(ours.stdout)[0]["signature"]
    text = nlpcli("evaluate", "translate", "--hyp", f["base"], "--ref", f["ref"], "--confidence")
    assert text.stdout == sacrebleu(f["ref"], "-i", f["base"], "-m", "bleu", "chrf", "ter", "--confidence", "-f", "text")
    assert "μ = " in text.stdout.decode()
    # --hyp BASE OTHER COPY: sacrebleu's paired bootstrap and approximate randomization tables
    systems = [f["base"], f["other"], f["copy"]]
    paired = nlpcli("evaluate", "translate", "--hyp", *systems, "--ref", f["ref"])
    assert paired.stdout == sacrebleu(f["ref"], "-i", *systems, "-m", "bleu", "chrf", "ter", "--paired-bs", "-f", "text")
    assert "Paired bootstrap resampling test with 1000 resampling trials" in paired.stdout.decode()
    ar = nlpcli("evaluate", "translate", "--hyp", f["base"], "--hyp", f["other"], "--hyp", f["copy"], "--ref", f["ref"],
                "--paired-ar", "--paired-n", "500", "--json", "-m", "bleu,chrf")
    assert ar.stdout == sacrebleu(f["ref"], "-i", *systems, "-m", "bleu", "chrf", "--paired-ar", "-parn", "500")
    copy = json.loads(ar.stdout)[2]
    # sacrebleu counts only strictly larger differences, so an identical system gets its minimum, 1/(n+1)
    assert copy["BLEU"]["p_value"] == pytest.approx(1 / 501) and copy["BLEU"]["score"] == json.loads(ar.stdout)[0]["BLEU"]["score"]


def test_translation_per_record_and_worst_are_sacrebleus_sentence_scores(translation_files, tmp_path):
    f = translation_files
    per_record = tmp_path / "sentences.jsonl"
    result = nlpcli("evaluate", "translate", "--hyp", f["base"], "--ref", f["ref"], "--per-record", per_record, "--worst", "3")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in per_record.read_text().splitlines()]
    assert len(rows) == 60 and [r["record"] for r in rows] == list(range(1, 61))
    theirs = sacrebleu(f["ref"], "-i", f["base"], "-m", "bleu", "--sentence-level", "-b", "-w", "2", "-f", "text").decode().split()
    assert [r["bleu"] for r in rows] == pytest.approx([float(x) for x in theirs], abs=0.006)
    shown = [json.loads(line.strip()) for line in lines(result) if line.startswith("  {")]
    assert [r["bleu"] for r in shown] == sorted(r["bleu"] for r in rows)[:3]


def random_task_data(seed=0, n=80):
    """Gold and two systems' output for the four metrics nlpcli scores itself."""
    rng = random.Random(seed)
    refs = sentences(rng, n)
    golds = [[r, *noisy(rng, [r], 0.4)] for r in refs]
    labels = [rng.choice(["positive", "negative"]) for _ in range(n)]
    tags = [[rng.choice(["O", "O", "B-PER", "I-PER", "B-LOC"]) for _ in range(rng.randint(2, 8))] for _ in range(n)]
    flipped = [[t if rng.random() > 0.3 else rng.choice(["O", "B-PER", "I-LOC"]) for t in s] for s in tags]
    return [
        (Rouge(2), noisy(rng, refs, 0.5), golds),
        (SquadAnswers(), [g[0] if rng.random() > 0.4 else rng.choice(WORDS) for g in golds], golds),
        (Classification(["negative", "positive"]), [l if rng.random() > 0.3 else "negative" for l in labels], labels),
        (Conlleval(["LOC", "PER"]), flipped, tags),
    ]


@pytest.mark.parametrize("case", range(4))
def test_bootstrap_intervals_are_reproducible_and_hold_the_point_estimate(case):
    metric, system, references = random_task_data()[case]
    statistics = metric.record_statistics(system, references)
    first = bootstrap_intervals(metric, statistics, 400, seed=3)
    assert first == bootstrap_intervals(metric, statistics, 400, seed=3)
    assert first != bootstrap_intervals(metric, statistics, 400, seed=4)
    point = metric.corpus_figures(statistics)
    for name in metric.figures:
        assert first[name].low <= point[name] <= first[name].high
        assert first[name].high > first[name].low  # 80 varied records: the interval has width


@pytest.mark.parametrize("case", range(4))
def test_a_system_against_itself_gets_p_1_and_a_real_difference_a_small_p(case):
    metric, system, references = random_task_data()[case]
    statistics = metric.record_statistics(system, references)
    perfect = metric.record_statistics([g[0] for g in references] if case < 2 else references, references)
    for test in (paired_bootstrap, approximate_randomization):
        same = test(metric, statistics, statistics.copy(), 300, 12345)
        assert set(same.p_value.values()) == {1.0} and set(same.difference.values()) == {0.0}
        better = test(metric, statistics, perfect, 300, 12345)
        assert better.p_value[metric.ranking_figure if metric.ranking_figure in metric.figures else metric.figures[0]] < 0.05


def test_several_systems_from_the_command_line(tmp_path):
    rng = random.Random(2)
    refs = sentences(rng, 30)
    ref, hyp = write(tmp_path / "ref.txt", refs), write(tmp_path / "hyp.txt", noisy(rng, refs, 0.4))
    result = nlpcli("evaluate", "summarize", "--hyp", hyp, hyp, "--ref", ref, "--paired-ar", "--paired-n", "200", "--json")
    report = json.loads(result.stdout)
    assert report["test"] == {"name": "approximate randomization", "n": 200, "seed": 12345, "baseline": str(hyp)}
    assert report["systems"][1]["p_value"] == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert report["signature"]["resampling"] == {"ar": 200, "rs": 12345}
    text = nlpcli("evaluate", "summarize", "--hyp", hyp, "--hyp", hyp, "--ref", ref).stdout.decode()
    assert "paired bootstrap resampling, 1000 resamples, seed 12345" in text and "(+0.00, p = 1.0000)" in text


def test_multi_reference_rouge_is_rouge_scores_score_multi(tmp_path):
    rng = random.Random(4)
    refs = sentences(rng, 20)
    second, hyps = noisy(rng, refs, 0.5), noisy(rng, refs, 0.4)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = {kind: 100 * np.mean([scorer.score_multi([a, b], h)[kind].fmeasure for a, b, h in zip(refs, second, hyps)])
                for kind in ("rouge1", "rouge2", "rougeL")}
    hyp = write(tmp_path / "hyp.txt", hyps)
    as_files = nlpcli("evaluate", "summarize", "--hyp", hyp, "--ref", write(tmp_path / "a.txt", refs),
                      "--ref", write(tmp_path / "b.txt", second), "--json")
    jsonl = write(tmp_path / "refs.jsonl", [json.dumps({"references": [a, b]}) for a, b in zip(refs, second)])
    as_jsonl = nlpcli("evaluate", "summarize", "--hyp", hyp, "--ref", jsonl, "--json")
    for result in (as_files, as_jsonl):
        report = json.loads(result.stdout)
        assert {k: report[k] for k in expected} == pytest.approx(expected, abs=0.005)
        assert report["signature"]["settings"]["nrefs"] == 2 and report["signature"]["settings"]["multi"] == "best"


def test_per_record_scores_average_back_to_the_corpus_figure(tmp_path):
    metrics = random_task_data(seed=9, n=50)
    rouge, squad, classes = metrics[0], metrics[1], metrics[2]
    hyp = write(tmp_path / "hyp.txt", rouge[1])
    ref = write(tmp_path / "ref.jsonl", [json.dumps({"references": g}) for g in rouge[2]])
    squad_data = tmp_path / "squad.json"
    squad_data.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [
        {"id": str(i), "question": "?", "answers": [{"text": g, "answer_start": 0} for g in golds]}
        for i, golds in enumerate(squad[2])]}]}]}))
    answers = write(tmp_path / "answers.jsonl", [json.dumps({"id": str(i), "answer": a, "score": 0.5})
                                                  for i, a in enumerate(squad[1])])
    gold, predicted = write(tmp_path / "gold.txt", classes[2]), write(tmp_path / "pred.txt", classes[1])
    runs = [("summarize", ["--hyp", hyp, "--ref", ref], ["rouge1", "rouge2", "rougeL"]),
            ("answer", ["--predictions", answers, "--data", squad_data], ["exact_match", "f1"]),
            ("classify-sentiment", ["--predictions", predicted, "--gold", gold], ["accuracy"])]
    for task, arguments, figures in runs:
        per_record = tmp_path / f"{task}.jsonl"
        result = nlpcli("evaluate", task, *arguments, "--per-record", per_record, "--json")
        assert result.returncode == 0, result.stderr
        report, rows = json.loads(result.stdout), [json.loads(line) for line in per_record.read_text().splitlines()]
        assert len(rows) == 50
        for name in figures:
            values = [100.0 * row["correct"] if name == "accuracy" else row[name] for row in rows]
            assert np.mean(values) == pytest.approx(report[name], abs=0.01), (task, name)


def test_every_evaluator_prints_and_returns_its_signature(tmp_path):
    data = random_task_data(seed=5, n=10)
    tags = data[3]
    gold = tmp_path / "gold.conll"
    gold.write_text("".join("".join(f"w{i} {t}\n" for i, t in enumerate(s)) + "\n" for s in tags[2]))
    predicted = tmp_path / "pred.conll"
    predicted.write_text("".join("".join(f"w{i}\t{t}\n" for i, t in enumerate(s)) + "\n" for s in tags[1]))
    labels = write(tmp_path / "labels.txt", data[2][2])
    for task, arguments, name in [("classify-sentiment", ["--predictions", labels, "--gold", labels], "classification"),
                                  ("tag-entities", ["--predictions", predicted, "--gold", gold], "conlleval")]:
        text = nlpcli("evaluate", task, *arguments, "--confidence", "--confidence-n", "50", "--seed", "1")
        assert lines(text)[0].startswith(f"{name}|") and "|bs:50|rs:1|version:" in lines(text)[0]
        signature = json.loads(nlpcli("evaluate", task, *arguments, "--json").stdout)["signature"]
        assert signature["metric"] == name and signature["versions"]["nlpcli"] and signature["resampling"] == {}
    assert set(METRICS) == {"bleu", "chrf", "ter", "rouge", "squad-v1.1", "classification", "conlleval"}


def test_confidence_from_the_command_line_is_seeded(tmp_path):
    rng = random.Random(6)
    gold = [rng.choice(["positive", "negative"]) for _ in range(40)]
    gold_file = write(tmp_path / "gold.txt", gold)
    predicted = write(tmp_path / "pred.txt", [g if rng.random() > 0.3 else "positive" for g in gold])
    run = lambda seed: json.loads(nlpcli("evaluate", "classify-sentiment", "--predictions", predicted, "--gold", gold_file,
                                         "--confidence", "--seed", seed, "--json").stdout)
    first, again, other = run("1"), run("1"), run("2")
    assert first["confidence"] == again["confidence"] != other["confidence"]
    for name in ("accuracy", "macro_f1"):
        assert first["confidence"][name]["low"] <= first[name] <= first["confidence"][name]["high"]
    assert first["signature"]["resampling"] == {"bs": 1000, "rs": 1}


def test_entity_scores_are_calibrated_against_gold_chunks(tmp_path):
    gold = tmp_path / "gold.conll"
    gold.write_text("John B-PER\nlives O\nin O\nNew B-LOC\nYork I-LOC\n\nMary B-PER\nruns O\n\n")
    entity = lambda text, kind, start, score: {"text": text, "type": kind, "start": start, "end": start + len(text), "score": score}
    predicted = write(tmp_path / "pred.jsonl", [
        json.dumps({"text": "John lives in New York", "entities": [entity("John", "PER", 0, 0.9), entity("York", "LOC", 18, 0.8)]}),
        json.dumps({"text": "Mary runs", "entities": [entity("Mary", "PER", 0, 0.3)]})])
    report = json.loads(nlpcli("evaluate", "tag-entities", "--predictions", predicted, "--gold", gold, "--calibration",
                               "--calibration-bins", "2", "--json").stdout)
    assert (report["precision"], report["recall"]) == (pytest.approx(66.67, abs=0.01), pytest.approx(66.67, abs=0.01))
    # (0, .5]: Mary .3 right; (.5, 1]: John .9 right, York .8 wrong (gold is New York)
    assert report["calibration"]["ece"] == pytest.approx(100 * (1 / 3 * 0.7 + 2 / 3 * abs(0.5 - 0.85)), abs=0.01)
    wrong = write(tmp_path / "wrong.jsonl", [json.dumps({"text": "John lives", "entities": []}), "{}"])
    result = nlpcli("evaluate", "tag-entities", "--predictions", wrong, "--gold", gold)
    assert result.returncode == 1 and b"wrong.jsonl, line 1: \"text\" is not the gold sentence" in result.stderr


def test_calibration_error_and_reliability_diagram(tmp_path):
    report = calibration_report([0.9, 0.9, 0.6, 0.6, 0.1], [True, False, True, True, False], bins=2)
    # bin (0, .5]: 1 prediction, confidence .1, accuracy 0; bin (.5, 1]: 4, confidence .75, accuracy .75
    assert report["ece"] == pytest.approx(100 * (1 / 5 * 0.1 + 4 / 5 * 0.0))
    assert [b["count"] for b in report["bins"]] == [1, 4]
    gold = write(tmp_path / "gold.txt", ["positive", "negative", "positive", "negative"])
    predicted = write(tmp_path / "pred.txt", ["positive\t0.9", "positive\t0.8", "positive\t0.7", "negative\t0.6"])
    plot = tmp_path / "reliability.png"
    result = nlpcli("evaluate", "classify-sentiment", "--predictions", predicted, "--gold", gold, "--calibration",
                    "--reliability-plot", plot, "--json")
    assert result.returncode == 0, result.stderr
    calibration = json.loads(result.stdout)["calibration"]
    # (.5,.6]: .6 right; (.6,.7]: .7 right; (.7,.8]: .8 wrong; (.8,.9]: .9 right -> |1-.6|+|1-.7|+|0-.8|+|1-.9| over 4
    assert calibration["ece"] == pytest.approx(100 * (0.4 + 0.3 + 0.8 + 0.1) / 4, abs=0.01)
    assert plot.read_bytes().startswith(b"\x89PNG")
    no_probabilities = nlpcli("evaluate", "classify-sentiment", "--predictions", gold, "--gold", gold, "--calibration",
                              "--per-record", tmp_path / "records.jsonl")
    assert no_probabilities.returncode == 1 and b"--calibration needs predictions with probabilities" in no_probabilities.stderr
    assert not (tmp_path / "records.jsonl").exists()


@pytest.mark.parametrize("task, files, arguments, message", [
    ("summarize", {"h.txt": "a b\nc d\n", "r.jsonl": '{"references": ["a b"]}\n{"references": \n'},
     ["--hyp", "h.txt", "--ref", "r.jsonl"], "r.jsonl, line 2: invalid JSON"),
    ("summarize", {"h.txt": "a b\n", "r.jsonl": '{"references": [1]}\n'},
     ["--hyp", "h.txt", "--ref", "r.jsonl"], "r.jsonl, line 1: expected a \"references\" list of strings"),
    ("answer", {"p.jsonl": '{"id": "1", "answer": "x"}\n{"id": "2"}\n', "d.json": json.dumps({"data": []})},
     ["--predictions", "p.jsonl", "--data", "d.json"], "holds no questions"),
    ("answer", {"p.jsonl": '{"id": "1", "answer": "x"}\n{"id": "2"}\n',
                "d.json": json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", "answers": []}]}]}]})},
     ["--predictions", "p.jsonl", "--data", "d.json"], "p.jsonl, line 2: expected {\"id\", \"answer\"}"),
    ("classify-sentiment", {"p.txt": "positive\t1.5\n", "g.txt": "positive\n"},
     ["--predictions", "p.txt", "--gold", "g.txt"], "p.txt, line 1: probability 1.5 is not between 0 and 1"),
    ("classify-sentiment", {"p.txt": "positive\n", "g.txt": "positive\n"},
     ["--predictions", "p.txt", "--gold", "g.txt", "--worst", "-1"], "--worst must be 0 or more"),
    ("classify-sentiment", {"p.txt": "positive\n", "g.txt": "positive\n"},
     ["--predictions", "p.txt", "--gold", "g.txt", "--confidence-n", "0"], "--confidence-n must be at least 1"),
    ("translate", {"h.txt": "a\n", "r.txt": "a\n"}, ["--hyp", "h.txt", "--ref", "r.txt", "--checkpoint", "none", "--keep-output", "o.txt"],
     "--checkpoint needs --source FILE"),
])
def test_malformed_inputs_get_one_line_errors(tmp_path, task, files, arguments, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = nlpcli("evaluate", task, *arguments, cwd=tmp_path)
    error = result.stderr.decode()
    assert result.returncode == 1 and message in error and "Traceback" not in error and len(error.splitlines()) == 1, error


def test_usage_errors_exit_2(tmp_path):
    h = write(tmp_path / "h.txt", ["a"])
    unknown = nlpcli("evaluate", "translate", "--hyp", h, "--ref", h, "--beam", "4")
    assert unknown.returncode == 2 and b"--beam" in unknown.stderr
    keep = nlpcli("evaluate", "translate", "--hyp", h, "--ref", h, "--keep-output", tmp_path / "o.txt")
    assert keep.returncode == 2 and b"--keep-output goes with --checkpoint" in keep.stderr
    stray = nlpcli("evaluate", "translate", "--hyp", h, h, "--ref", h, "-c", tmp_path, "--source", h, "--beam", "2")
    assert stray.returncode == 2 and b"unexpected argument" in stray.stderr


def test_readers_build_one_scoring_for_several_systems(tmp_path):
    gold = write(tmp_path / "g.txt", ["positive", "negative", "positive"])
    a, b = write(tmp_path / "a.txt", ["positive", "positive", "negative"]), write(tmp_path / "b.txt", ["negative"] * 3)
    scoring = read_sentiment([str(a), str(b)], str(gold))
    assert [s.name for s in scoring.systems] == [str(a), str(b)] and scoring.metric.labels == ["negative", "positive"]
    report = score(scoring, EvaluationOptions(paired_n=100))
    assert [row["accuracy"] for row in report["systems"]] == [pytest.approx(100 / 3, abs=0.01), pytest.approx(100 / 3, abs=0.01)]
    with pytest.raises(InputError, match="has 2 lines but reference"):
        read_sentiment([str(write(tmp_path / "c.txt", ["positive", "negative"]))], str(gold))


# ---- run and score in one command -----------------------------------------------------
def test_run_and_score_translation_equals_translating_then_scoring(toy_checkpoint, toy_data, tmp_path):
    source, ref = toy_data / "translate" / "toy" / "dev.en", toy_data / "translate" / "toy" / "dev.de"
    kept = tmp_path / "kept.de"
    once = nlpcli("evaluate", "translate", "--checkpoint", toy_checkpoint, "--source", source, "--ref", ref,
                  "--keep-output", kept, "--beam", "2", "--tgt", "de", "--json")
    assert once.returncode == 0, once.stderr
    output = tmp_path / "out.de"
    assert nlpcli("translate", "-c", toy_checkpoint, "-i", source, "-o", output, "--beam", "2", "--tgt", "de").returncode == 0
    assert kept.read_bytes() == output.read_bytes()
    assert once.stdout == nlpcli("evaluate", "translate", "--hyp", output, "--ref", ref, "--json").stdout
    assert json.loads(once.stdout)[0]["score"] > 50


def test_run_and_score_the_other_tasks(toy_tasks_checkpoint, toy_data, tmp_path):
    sentiment = toy_data / "classify-sentiment" / "dev.jsonl"
    result = nlpcli("evaluate", "classify-sentiment", "-c", toy_tasks_checkpoint, "--source", sentiment,
                    "--input-format", "jsonl", "--gold", sentiment, "--calibration", "--keep-output", tmp_path / "labels.txt", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["accuracy"] >= 90 and report["calibration"]["predictions"] == 40
    assert len((tmp_path / "labels.txt").read_text().splitlines()) == 40
    squad = toy_data / "answer" / "dev.json"
    answers = json.loads(nlpcli("evaluate", "answer", "-c", toy_tasks_checkpoint, "--data", squad, "--calibration", "--json").stdout)
    assert answers["f1"] >= 90 and answers["questions"] == 40 and answers["calibration"]["predictions"] == 40
    gold = toy_data / "tag-entities" / "dev.txt"
    entities = json.loads(nlpcli("evaluate", "tag-entities", "-c", toy_tasks_checkpoint, "--gold", gold, "--json").stdout)
    predictions = tmp_path / "pred.conll"
    nlpcli("tag-entities", "-c", toy_tasks_checkpoint, "-i", gold, "--input-format", "conll", "-o", predictions)
    assert entities == json.loads(nlpcli("evaluate", "tag-entities", "--predictions", predictions, "--gold", gold, "--json").stdout)
    calibrated = json.loads(nlpcli("evaluate", "tag-entities", "-c", toy_tasks_checkpoint, "--gold", gold, "--calibration", "--json").stdout)
    assert calibrated["f1"] >= 90 and calibrated["calibration"]["predictions"] == calibrated["phrases_predicted"]
    documents = toy_data / "summarize" / "dev.jsonl"
    summaries = nlpcli("evaluate", "summarize", "-c", toy_tasks_checkpoint, "--source", documents, "--input-format", "jsonl",
                       "--ref", documents, "--beam", "1")
    assert summaries.returncode == 0, summaries.stderr
    assert lines(summaries)[0].startswith("rouge|nrefs:1|") and "documents = 40" in lines(summaries)


def test_a_terminal_gets_a_table(capsys):
    from nlpcli.evaluation_view import print_table

    metric, system, references = random_task_data(n=20)[2]
    report = score(scoring_of(metric, system, references), EvaluationOptions(confidence=True, confidence_n=50))
    print_table(report, metric.figures, metric.record_unit, metric.ranking_figure)
    shown = capsys.readouterr().out
    assert "accuracy" in shown and "macro-F1" in shown and "±" in shown and "│" in shown
    assert report["signature"].format() in shown and report["signature"].metric == "classification"


def scoring_of(metric, system, references):
    from nlpcli.evaluate import SystemOutput, TaskScoring

    return TaskScoring(metric, references, [SystemOutput("s", system, [{} for _ in system])])
