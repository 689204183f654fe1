"""``nlpcli evaluate <task>``: score system output against references.

Each task's reader turns its files into a ``TaskScoring`` (the metric, the
references, one ``SystemOutput`` per system); ``score`` then computes what was
asked for on any task alike: corpus figures, bootstrap intervals, paired tests
against the first system, per-record scores and calibration. Translation keeps
sacrebleu's own figures and printing (``translation_scores``)."""
from __future__ import annotations

import contextlib
import io
import json
import os
from argparse import Namespace
from dataclasses import dataclass, field

import numpy as np
from sacrebleu.significance import PairedTest
from sacrebleu.utils import Color, print_results_table, print_single_results

from nlpcli.data.conll import read_conll
from nlpcli.data.squad import read_squad
from nlpcli.errors import InputError
from nlpcli.metrics import BLEU, CHRF, TER, Classification, Conlleval, Metric, Rouge, SquadAnswers, entity_types, normalize_answer
from nlpcli.metrics.calibration import calibration_report, plot_reliability
from nlpcli.metrics.conlleval import chunk_spans
from nlpcli.metrics.resampling import DEFAULT_SEED, PAIRED_TESTS, bootstrap_intervals
from nlpcli.textio import OutputWriter, input_name, open_input, read_records

TRANSLATION_METRICS = {"bleu": BLEU, "chrf": CHRF, "ter": TER}
PAIRED_TEST_NAMES = {"bs": "paired bootstrap resampling", "ar": "approximate randomization"}
DEFAULT_PAIRED_N = {"bs": 1000, "ar": 10000}  # sacrebleu's --paired-bs-n / --paired-ar-n


@dataclass
class EvaluationOptions:
    """What to compute beyond the corpus figures (the evaluate commands' shared options)."""
    confidence: bool = False
    confidence_n: int = 1000
    seed: int = DEFAULT_SEED
    paired_test: str = "bs"  # with several systems: "bs" or "ar"
    paired_n: int | None = None  # default: 1,000 resamples (bs) or 10,000 trials (ar)
    per_record: str | None = None
    worst: int = 0
    calibration: bool = False
    calibration_bins: int = 10
    reliability_plot: str | None = None

    def __post_init__(self) -> None:
        for name, value in (("--confidence-n", self.confidence_n), ("--calibration-bins", self.calibration_bins)):
            if value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        if self.worst < 0:
            raise InputError(f"--worst must be 0 or more, got {self.worst}")
        if self.paired_n is not None and self.paired_n < 1:
            raise InputError(f"--paired-n must be at least 1, got {self.paired_n}")

    @property
    def paired_samples(self) -> int:
        return self.paired_n or DEFAULT_PAIRED_N[self.paired_test]


@dataclass
class SystemOutput:
    """One system's output, read for its metric."""
    name: str
    records: list  # what the metric's record_statistics takes as the system
    shown: list[dict]  # per record: what --per-record and --worst show (the hypothesis, the label, ...)
    # (probability, whether the prediction is right) of each prediction that carries one, for --calibration
    calibration: list[tuple[float, bool]] = field(default_factory=list)


@dataclass
class TaskScoring:
    metric: Metric
    references: list
    systems: list[SystemOutput]
    keys: list[dict] = field(default_factory=list)  # per record: where it is (line, id)


# ---- reading ----------------------------------------------------------------------
def read_all_lines(path: str | None) -> list[str]:
    """Every line of a file (or stdin for '-'), with errors naming file and line."""
    stream = open_input(path)
    try:
        return [record.text for record in read_records(stream, input_name(path))]
    finally:
        if path not in (None, "-"):
            stream.close()


def check_parallel(hypotheses: list, hyp_path: str, references: dict[str, list]) -> None:
    if not hypotheses:
        raise InputError(f"hypothesis file {hyp_path} is empty")
    for ref_path, lines in references.items():
        if len(lines) != len(hypotheses):
            raise InputError(
                f"hypothesis {hyp_path} has {len(hypotheses)} lines but reference {ref_path} has {len(lines)}"
            )


def required(paths: list[str], what: str) -> list[str]:
    if not paths:
        raise InputError(f"give at least one {what}")
    return paths


# ---- translation: sacrebleu's own figures and printing ----------------------------------
@contextlib.contextmanager
def sacrebleu_seed(seed: int):
    """sacrebleu reads its resampling seed from $SACREBLEU_SEED."""
    saved = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["SACREBLEU_SEED"]
        else:
            os.environ["SACREBLEU_SEED"] = saved


def sacrebleu_printout(print_function, *args) -> str:
    rendered, colours = io.StringIO(), Color.ENABLE_COLORS
    Color.ENABLE_COLORS = False  # as the sacrebleu command prints to a pipe
    try:
        with contextlib.redirect_stdout(rendered):
            print_function(*args)
    finally:
        Color.ENABLE_COLORS = colours
    return rendered.getvalue().rstrip("\n")


@dataclass
class TranslationScores:
    """What ``sacrebleu`` prints for the same files and options, and the signature objects."""
    text: str
    signatures: dict
    scoring: TaskScoring  # sentence-level scores for --per-record and --worst


def read_translation(hyp_paths: list[str], ref_paths: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    systems = [read_all_lines(path) for path in required(hyp_paths, "--hyp file")]
    references = {path: read_all_lines(path) for path in required(ref_paths, "--ref file")}
    for path, system in zip(hyp_paths, systems):
        check_parallel(system, path, references)
    return systems, list(references.values())


def translation_scores(hyp_paths: list[str], ref_paths: list[str], metrics: list[str], options: EvaluationOptions,
                       as_json: bool = False, names: list[str] | None = None) -> TranslationScores:
    """Corpus BLEU/chrF/TER with sacrebleu's defaults: one system as ``sacrebleu REF -i HYP -m ...``
    prints it (``--confidence``: ``--confidence --confidence-n``), several as ``sacrebleu REF -i BASE
    OTHER ... --paired-bs`` (or ``--paired-ar``) prints them, with $SACREBLEU_SEED = ``options.seed``.
    ``names`` name the systems (default: their paths, as sacrebleu names them)."""
    unknown = [m for m in metrics if m not in TRANSLATION_METRICS]
    if unknown or not metrics:
        raise InputError(f"unknown translation metric(s) {', '.join(unknown) or '(none)'}; choose from bleu, chrf, ter")
    systems, references = read_translation(hyp_paths, ref_paths)
    names = names or hyp_paths
    chosen = sorted(set(metrics))  # sacrebleu's order
    with sacrebleu_seed(options.seed):
        if len(systems) == 1:
            lines, signatures = [], {}
            for name in chosen:
                scorer = TRANSLATION_METRICS[name]().scorer
                score = scorer.corpus_score(systems[0], references,
                                            n_bootstrap=options.confidence_n if options.confidence else 1)
                signatures[name] = scorer.get_signature()
                lines.append(score.format(width=1, signature=signatures[name].format(), is_json=as_json))
            text = sacrebleu_printout(print_single_results, lines, Namespace(format="json" if as_json else "text"))
        else:
            scorers = {name.upper(): TRANSLATION_METRICS[name](references=references).scorer for name in chosen}
            named = [(f"Baseline: {names[0]}", systems[0]), *zip(names[1:], systems[1:])]
            test = PairedTest(named, scorers, references=None, test_type=options.paired_test,
                              n_samples=options.paired_samples, n_jobs=1)
            signatures, scores = test()
            args = Namespace(format="json" if as_json else "text", width=1, paired_bs=options.paired_test == "bs",
                             paired_ar=options.paired_test == "ar", paired_bs_n=options.paired_samples,
                             paired_ar_n=options.paired_samples)
            text = sacrebleu_printout(print_results_table, scores, {k: v.format() for k, v in signatures.items()}, args)
    return TranslationScores(text, signatures, sentence_scoring(names, systems, references))


def sentence_scoring(names: list[str], systems: list[list[str]], references: list[list[str]]) -> TaskScoring:
    """Per sentence: sentence BLEU (as ``sacrebleu --sentence-level``) and chrF; ranked by BLEU."""
    per_sentence = list(zip(*references))
    return TaskScoring(SentenceTranslation(), per_sentence, [
        SystemOutput(path, system, [{"hypothesis": h, "references": list(r)} for h, r in zip(system, per_sentence)])
        for path, system in zip(names, systems)])


class SentenceTranslation(Metric):
    """Sentence BLEU and chrF, for per-record scores only (corpus BLEU is not a mean)."""
    name = "sentence-bleu+chrf"
    figures = ("bleu", "chrf")
    ranking_figure = "bleu"
    record_unit = "sentences"

    def __init__(self):
        self.bleu, self.chrf = BLEU(), CHRF()

    def record_statistics(self, system, references):
        return np.array([[self.bleu.sentence_figure(h, list(r)), self.chrf.sentence_figure(h, list(r))]
                         for h, r in zip(system, references)], dtype=float).reshape(-1, 2)

    def figures_from(self, totals):
        return {"bleu": totals[..., 0], "chrf": totals[..., 1]}


# ---- the other tasks ---------------------------------------------------------------------
def read_summaries(hyp_paths: list[str], ref_paths: list[str]) -> TaskScoring:
    """Summaries one a line; several --ref files (or a jsonl --ref with a list field) give
    several references per document, and each document scores its best."""
    references = [read_references(path) for path in required(ref_paths, "--ref file")]
    per_document = [[gold for golds in ref_set for gold in golds] for ref_set in zip(*references)]
    systems = []
    for path in required(hyp_paths, "--hyp file"):
        hypotheses = read_all_lines(path)
        check_parallel(hypotheses, path, dict(zip(ref_paths, references)))
        systems.append(SystemOutput(path, hypotheses, [{"summary": h, "references": golds}
                                                       for h, golds in zip(hypotheses, per_document)]))
    most = max((len(golds) for golds in per_document), default=1)
    return TaskScoring(Rouge(most), per_document, systems)


def read_references(path: str) -> list[list[str]]:
    """One document's reference(s) per line: plain text, or jsonl whose line holds a
    "summary"/"reference"/"subject" string or a "references"/"summaries"/"annotations" list."""
    lines = read_all_lines(path)
    if not lines or not lines[0].lstrip().startswith("{"):
        return [[line] for line in lines]
    name, golds = input_name(path), []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}, line {number}: invalid JSON ({error.msg})") from None
        found = next((record[key] for key in ("references", "summaries", "annotations", "summary", "reference",
                                              "subject", "target") if isinstance(record, dict) and key in record), None)
        found = [found] if isinstance(found, str) else found
        if not isinstance(found, list) or not found or not all(isinstance(s, str) for s in found):
            raise InputError(f"{name}, line {number}: expected a \"references\" list of strings or a \"summary\" string")
        golds.append(found)
    return golds


def read_answer_predictions(path: str) -> tuple[dict[str, str], dict[str, float]]:
    """{id: answer text} as the official SQuAD script reads it, or nlpcli answer's jsonl
    ({"id", "answer", "score"} a line), which also gives each answer's score."""
    name = input_name(path)
    stream = open_input(path)
    try:
        text = stream.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: not UTF-8 ({error.reason} at byte {error.start})") from None
    finally:
        if path not in (None, "-"):
            stream.close()
    if not text.strip():
        raise InputError(f"predictions file {name} is empty")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as error:
        whole = None if text.lstrip().startswith("{") and "\n{" in text.strip() else error
    if isinstance(whole, json.JSONDecodeError):
        raise InputError(f"{name}: not a JSON object of answers ({whole})")
    if isinstance(whole, dict) and "id" not in whole and "answer" not in whole:
        for key, value in whole.items():
            if not isinstance(value, str):
                raise InputError(f"{name}: the answer of {key!r} must be a string, found {type(value).__name__}")
        return whole, {}
    if whole is not None and not isinstance(whole, dict):
        raise InputError(f"{name}: expected one JSON object {{\"id\": \"answer text\"}} or jsonl "
                         f"{{\"id\", \"answer\", \"score\"}}, found {type(whole).__name__}")
    answers, scores = {}, {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}, line {number}: invalid JSON ({error.msg})") from None
        if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("answer"), str):
            raise InputError(f"{name}, line {number}: expected {{\"id\", \"answer\"}} with the answer a string")
        answers[str(record["id"])] = record["answer"]
        if isinstance(record.get("score"), (int, float)):
            scores[str(record["id"])] = float(record["score"])
    return answers, scores


def read_answers(prediction_paths: list[str], data_path: str) -> TaskScoring:
    questions = read_squad(data_path)
    if not questions:
        raise InputError(f"{data_path} holds no questions")
    known = {q.id for q in questions}
    systems = []
    for path in required(prediction_paths, "--predictions file"):
        answers, scores = read_answer_predictions(path)
        unknown = sorted(set(answers) - known)
        if unknown:
            raise InputError(f"{input_name(path)}: {len(unknown)} id(s) not in {data_path}, e.g. {unknown[0]!r}")
        records = [answers.get(q.id) for q in questions]
        shown = [{"prediction": a, "answers": q.answers} for q, a in zip(questions, records)]
        right = lambda answer, golds: any(normalize_answer(answer) == normalize_answer(gold) for gold in golds)
        calibration = [(scores[q.id], right(answers[q.id], q.answers)) for q in questions if q.id in scores]
        systems.append(SystemOutput(path, records, shown, calibration))
    return TaskScoring(SquadAnswers(), [q.answers for q in questions], systems, [{"id": q.id} for q in questions])


LABEL_SPELLINGS = {"positive": "positive", "pos": "positive", "1": "positive",
                   "negative": "negative", "neg": "negative", "0": "negative"}


def read_label_records(path: str) -> list[tuple[str, float | None]]:
    """Sentiment labels and their probabilities (None where not given), one record a
    line: ``label[<TAB>probability]`` text (nlpcli's output), jsonl with a "label" field
    (and "score"), or a GLUE TSV whose header has a ``label`` column.
    0/1 and neg/pos are read as negative/positive."""
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
        probability = None
        if line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{name}, line {number}: invalid JSON ({error.msg})") from None
            if not isinstance(record, dict) or "label" not in record:
                raise InputError(f"{name}, line {number}: no \"label\" field")
            raw = str(record["label"])
            if isinstance(record.get("score"), (int, float)):
                probability = float(record["score"])
        else:
            cells = line.split("\t")
            raw = cells[label_column].strip() if len(cells) > label_column else ""
            if label_column == 0 and len(cells) == 2:
                probability = parse_probability(cells[1], name, number)
        label = LABEL_SPELLINGS.get(raw.lower())
        if label is None:
            raise InputError(f"{name}, line {number}: label {raw!r} is not positive/negative (or 1/0, pos/neg)")
        labels.append((label, probability))
    return labels


def parse_probability(cell: str, name: str, number: int) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None  # a text column, not a probability
    if not 0 <= value <= 1:
        raise InputError(f"{name}, line {number}: probability {cell.strip()} is not between 0 and 1")
    return value


def read_labels(path: str) -> list[str]:
    return [label for label, _ in read_label_records(path)]


def read_sentiment(prediction_paths: list[str], gold_path: str) -> TaskScoring:
    gold = read_labels(gold_path)
    systems = []
    for path in required(prediction_paths, "--predictions file"):
        predicted = read_label_records(path)
        check_parallel(predicted, path, {gold_path: gold})
        labels = [label for label, _ in predicted]
        calibration = [(p, label == g) for (label, p), g in zip(predicted, gold) if p is not None]
        systems.append(SystemOutput(path, labels, [{"label": label, "gold": g} for label, g in zip(labels, gold)],
                                    calibration))
    all_labels = set(gold).union(*(s.records for s in systems))
    return TaskScoring(Classification(sorted(all_labels)), gold, systems)


def read_entities(prediction_paths: list[str], gold_path: str) -> TaskScoring:
    """Gold CoNLL (tag in the last column); predictions CoNLL whose tokens line up sentence by
    sentence, or tag-entities' jsonl of the gold sentences (their tokens joined by spaces, one a
    line), whose entity scores --calibration reads."""
    gold = read_conll(read_all_lines(gold_path), input_name(gold_path))
    if not gold:
        raise InputError(f"gold file {gold_path} holds no tagged tokens")
    systems = []
    for path in required(prediction_paths, "--predictions file"):
        lines = read_all_lines(path)
        if next((line for line in lines if line.strip()), "").lstrip().startswith("{"):
            tags, calibration = read_tagged_jsonl(lines, input_name(path), gold, gold_path)
        else:
            tags, calibration = read_tagged_conll(lines, path, gold, gold_path), []
        systems.append(SystemOutput(path, tags, [{"tokens": " ".join(g.tokens), "tags": " ".join(t)}
                                                 for g, t in zip(gold, tags)], calibration))
    types = entity_types([g.tags for g in gold], *[s.records for s in systems])
    return TaskScoring(Conlleval(types), [g.tags for g in gold], systems, keys=[{"line": g.lines[0]} for g in gold])


def write_gold_sentences(gold_path: str, target: str) -> str:
    """The gold sentences as text, tokens joined by spaces, one a line (what tag-entities'
    jsonl output is read against)."""
    sentences = read_conll(read_all_lines(gold_path), input_name(gold_path))
    with open(target, "w", encoding="utf-8") as file:
        file.writelines(" ".join(sentence.tokens) + "\n" for sentence in sentences)
    return target


def read_tagged_conll(lines: list[str], path: str, gold, gold_path: str) -> list[list[str]]:
    predicted = read_conll(lines, input_name(path))
    if len(predicted) != len(gold):
        raise InputError(f"predictions {path} have {len(predicted)} sentences but gold {gold_path} has {len(gold)}")
    for p, g in zip(predicted, gold):
        if p.tokens != g.tokens:
            raise InputError(f"{path}, line {p.lines[0]}: sentence does not match gold {gold_path}, "
                             f"line {g.lines[0]} ({len(p.tokens)} vs {len(g.tokens)} tokens)")
    return [p.tags for p in predicted]


def read_tagged_jsonl(lines: list[str], name: str, gold, gold_path: str) -> tuple[list[list[str]], list[tuple[float, bool]]]:
    """BIO tags of the gold tokens from entities' character offsets, and each entity's
    (score, whether gold has the same span and type)."""
    if len(lines) != len(gold):
        raise InputError(f"{name} has {len(lines)} lines but gold {gold_path} has {len(gold)} sentences")
    tags, calibration = [], []
    for number, (line, sentence) in enumerate(zip(lines, gold), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}, line {number}: invalid JSON ({error.msg})") from None
        if not isinstance(record, dict) or record.get("text") != " ".join(sentence.tokens):
            raise InputError(f"{name}, line {number}: \"text\" is not the gold sentence of {gold_path}, line {sentence.lines[0]} "
                             "(tag the gold tokens joined by spaces)")
        spans, offset = [], 0
        for token in sentence.tokens:
            spans.append((offset, offset + len(token)))
            offset += len(token) + 1
        sentence_tags, gold_chunks = ["O"] * len(spans), chunk_spans(sentence.tags)
        for entity in record.get("entities") or []:
            if not (isinstance(entity, dict) and isinstance(entity.get("start"), int) and isinstance(entity.get("end"), int)
                    and isinstance(entity.get("type"), str)):
                raise InputError(f"{name}, line {number}: an entity needs integer \"start\", \"end\" and a \"type\"")
            covered = [i for i, (start, end) in enumerate(spans) if start < entity["end"] and end > entity["start"]]
            if not covered:
                continue
            for i in covered:
                sentence_tags[i] = ("B-" if i == covered[0] else "I-") + entity["type"]
            if isinstance(entity.get("score"), (int, float)):
                calibration.append((float(entity["score"]), (covered[0], covered[-1], entity["type"]) in gold_chunks))
        tags.append(sentence_tags)
    return tags, calibration


# ---- scoring, the same for every task --------------------------------------------------
def score(task: TaskScoring, options: EvaluationOptions) -> dict:
    """The report of one system, or of several compared with the first (a paired test each);
    its "signature" is the metric's Signature object (``report_json`` writes it as an object)."""
    metric = task.metric
    statistics = [metric.record_statistics(s.records, task.references) for s in task.systems]
    if len(task.systems) == 1:
        resampling = {"bs": options.confidence_n, "rs": options.seed} if options.confidence else {}
        report = metric.report(statistics[0], resampling)
        if options.confidence:
            report["confidence"] = {name: interval.as_dict() for name, interval in
                                    bootstrap_intervals(metric, statistics[0], options.confidence_n, options.seed).items()}
    else:
        report = compare_systems(task, statistics, options)
    if options.calibration:  # before --per-record is written: a refusal leaves no half-made output
        report["calibration"] = calibrate(task, options)
    records = write_per_record(task, statistics, options)
    if options.worst:
        report["worst"] = worst_records(task, records, options.worst)
    return report


def report_json(report: dict) -> str:
    return json.dumps(report, indent=1, default=lambda value: value.as_dict())


def compare_systems(task: TaskScoring, statistics: list, options: EvaluationOptions) -> dict:
    metric, test = task.metric, options.paired_test
    baseline = statistics[0]
    rows = []
    for position, (system, stats) in enumerate(zip(task.systems, statistics)):
        row = {"system": system.name, **metric.report(stats)}
        row.pop("signature")
        if position == 0:
            row["baseline"] = True
            if test == "bs" or options.confidence:
                row["confidence"] = {name: interval.as_dict() for name, interval in bootstrap_intervals(
                    metric, stats, options.paired_samples if test == "bs" else options.confidence_n, options.seed).items()}
        else:
            comparison = PAIRED_TESTS[test](metric, baseline, stats, options.paired_samples, options.seed)
            row["difference"] = {name: round(value, 2) for name, value in comparison.difference.items()}
            row["p_value"] = {name: round(value, 4) for name, value in comparison.p_value.items()}
            if comparison.interval:
                row["confidence"] = {name: interval.as_dict() for name, interval in comparison.interval.items()}
            elif options.confidence:
                row["confidence"] = {name: interval.as_dict() for name, interval in
                                     bootstrap_intervals(metric, stats, options.confidence_n, options.seed).items()}
        rows.append(row)
    resampling = {test: options.paired_samples, "rs": options.seed}
    return {"test": {"name": PAIRED_TEST_NAMES[test], "n": options.paired_samples, "seed": options.seed,
                     "baseline": task.systems[0].name},
            "systems": rows, "signature": metric.signature(resampling)}


def record_scores(task: TaskScoring, statistics: list) -> list[list[dict]]:
    """For each system, each record's own scores with what identifies and shows it."""
    systems = []
    for system, stats in zip(task.systems, statistics):
        keys = task.keys or [{} for _ in stats]
        rows = []
        for number, (key, shown, figures) in enumerate(zip(keys, system.shown, task.metric.record_figures(stats)), 1):
            rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
            rows.append({"record": number, **({"system": system.name} if len(task.systems) > 1 else {}),
                         **key, **rounded, **shown})
        systems.append(rows)
    return systems


def write_per_record(task: TaskScoring, statistics: list, options: EvaluationOptions) -> list[list[dict]]:
    if not options.per_record and not options.worst:
        return []
    records = record_scores(task, statistics)
    if options.per_record:
        with OutputWriter(options.per_record) as writer:
            for rows in records:
                for row in rows:
                    writer.write(json.dumps(row, ensure_ascii=False))
    return records


def worst_records(task: TaskScoring, records: list[list[dict]], count: int) -> list[dict]:
    """The ``count`` lowest records of each system by the metric's ranking figure (stable: input order breaks ties)."""
    metric, chosen = task.metric, []
    for rows in records:
        chosen += sorted(rows, key=lambda row: float(row[metric.ranking_figure]) * (1 if metric.higher_is_better else -1))[:count]
    return chosen


def calibrate(task: TaskScoring, options: EvaluationOptions) -> dict:
    """ECE of the first system's probabilities against whether each prediction is right."""
    system = task.systems[0]
    if not system.calibration:
        raise InputError(f"--calibration needs predictions with probabilities; {system.name} has none "
                         "(classify-sentiment: label<TAB>probability or jsonl \"score\"; answer, tag-entities: their jsonl)")
    report = calibration_report([c for c, _ in system.calibration], [right for _, right in system.calibration],
                                options.calibration_bins)
    if options.reliability_plot:
        report["plot"] = str(plot_reliability(report, options.reliability_plot, f"{task.metric.name}: {system.name}"))
    return report


def sentence_records(scores: TranslationScores, options: EvaluationOptions) -> list[dict]:
    """Translation's --per-record file and --worst records (sentence BLEU and chrF)."""
    task = scores.scoring
    if not options.per_record and not options.worst:
        return []
    statistics = [task.metric.record_statistics(s.records, task.references) for s in task.systems]
    records = write_per_record(task, statistics, options)
    return worst_records(task, records, options.worst) if options.worst else []
