"""answer: extractive question answering. The encoder reads ``<answer>
question </s> context-window </s>``; a start and an end score per token pick the
answer span, which is always a span of the context. Contexts longer than the
window are read in overlapping windows that start every ``stride`` context
pieces (default: half a window); the best-scoring span over all windows wins.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nlpcli.data.jsonl import parse_object, string_field
from nlpcli.data.squad import read_squad
from nlpcli.errors import InputError
from nlpcli.features import question_match_flags
from nlpcli.tasks.base import EncoderTask
from nlpcli.textio import ChunkHandler

MAX_QUESTION_TOKENS = 48


def read_squad_set(spec, path) -> list[dict]:
    """SQuAD v1.1 JSON, the first gold answer of each question; carved by article."""
    return [
        {"id": q.id, "question": q.question, "context": q.context, "answer": q.answers[0],
         "answer_start": q.answer_starts[0], "carve_key": q.title}
        for q in read_squad(path) if q.answers
    ]


class Answer(EncoderTask):
    """Data sets: format "squad"."""

    name = "answer"
    token = "<answer>"
    formats = {"squad": read_squad_set}
    window = 256  # tokens per question + context window
    temperature_field = "answer_temperature"

    def training_texts(self, spec, example):
        return (example["question"], example["context"])

    def served(self, recipe) -> dict:
        window = self.training_window(recipe)
        return {"window": window, "stride": window // 2}

    def configure_heads(self, config, trained: bool) -> None:
        config.answer_spans = trained

    def encode(self, tokenizer, question_and_context: tuple[str, str], window: int, token: str = "", stride: int = 0) -> list:
        """The windows (Window) of a (question, context) pair; a new
        window starts every ``stride`` context pieces (default: half a window)."""
        question, context = question_and_context
        return encode_windows(tokenizer, question, context, window, stride or window // 2)

    def pool(self, spec, examples, tokenizer, window, model_config=None):
        """Every window that holds the whole gold answer becomes (ids, [start, end]).
        The other windows are left out, or, with answer_no_answer_windows, point
        start and end at position 0 (the task token: "no answer here", as BERT does;
        inference never answers there), so that window scores become comparable. A
        target is [start, end, the window's context_start], and for a question_match
        model the window's question-match flags after it, one per source position."""
        from nlpcli.batching import Pool

        no_answer = model_config is not None and model_config.answer_no_answer_windows
        with_matches = model_config is not None and model_config.question_match
        pool = Pool(spec.name, [], [], spec.weight)
        for example in examples:
            start = example["answer_start"]
            end = start + len(example["answer"])
            for found_window in self.encode(tokenizer, (example["question"], example["context"]), window):
                found = piece_range(found_window.spans, start, end)
                if found:
                    target = [found_window.context_start + found[0], found_window.context_start + found[1]]
                elif no_answer:
                    target = [0, 0]
                else:
                    continue
                pool.sources.append(found_window.ids)
                pool.targets.append(target + [found_window.context_start] + (found_window.question_match if with_matches else []))
        return pool

    def scores(self, model, src, tgt):
        """(batch, 2, src_len), the start and the end scores, and (batch, 2), the gold start and end."""
        import torch

        question_match = tgt[:, 3:] if model.config.question_match else None
        start_logits, end_logits = model.span_logits(src, question_match, starts=tgt[:, 0],
                                                     question_mask=question_positions(tgt[:, 2], src.size(1)))
        return torch.stack([start_logits, end_logits], dim=1), tgt[:, :2]

    def loss(self, model, src, tgt, pad_id: int, label_smoothing: float):
        return super().loss(model, src, tgt, pad_id, label_smoothing) / 2  # an answer is one prediction of two boundaries

    # ---- inference: questions (input formats text, jsonl, squad) --------------------------
    def runner(self, loaded, device: str, options: dict | None = None) -> QuestionAnswerer:
        served = loaded.info.tasks[self.name]
        return QuestionAnswerer(loaded.model, loaded.tokenizer, device, served.get("window", 256), served.get("stride", 128))

    def items(self, run, warn, options: dict | None = None):
        """QuestionRecords: text lines are questions about ``options["context"]``
        (a file name or the text), jsonl lines carry id, context and question, and
        a SQuAD v1.1 file (-i FILE) holds them all."""
        if run.input_format == "squad":
            if not run.input or run.input == "-":
                raise InputError("--input-format squad needs -i FILE (a SQuAD v1.1 JSON file)")
            return squad_question_records(run.input), run.input
        records, name = super().items(run, warn, options)
        context = (options or {}).get("context")
        return question_records(records, run.input_format, read_context(context, warn) if context is not None else None, name), name

    def streams(self, input_format: str) -> bool:
        return input_format != "squad"

    def run(self, runner, inputs: list[tuple[str, str]], settings):
        """Per (question, context) its best answer (None when either is blank); nothing is cut."""
        return runner.answer(inputs, settings.batch_size), [False] * len(inputs)

    def output_lines(self, source, result, fmt: str) -> list[str]:
        """``source``: the QuestionRecord; text: the answer, jsonl: {id, question, answer, score, start, end}."""
        return answer_record(source, result, fmt)

    def attention(self, runner, source, result):
        return answer_attention(runner, source.question, source.context, result) if result else None

    def handler(self, runner, settings, fmt, input_format, source_name, warn, reporter=None):
        """Format "squad" writes one JSON object {id: answer} after the last question."""
        return answer_handler(runner, fmt, settings.batch_size, reporter)

    def scoring(self, hyp_paths: list[str], ref_paths: list[str]):
        """Exact match and F1 (the official SQuAD v1.1 normalisation, the best over gold
        answers) of predictions ({id: answer} JSON, or answer's jsonl) against the one
        SQuAD file ``ref_paths`` names."""
        from nlpcli.evaluate import read_answers

        (data_path,) = ref_paths
        return read_answers(hyp_paths, data_path)


# ---- the engine: question answering as a library call ---------------------------------
@dataclass
class Window:
    ids: list[int]
    context_start: int  # position in ids of the window's first context piece
    spans: list[tuple[int, int]]  # character span in the context of each context piece in the window
    question_match: list[int]  # per position of ids: 1 at context pieces whose word occurs in the question


@dataclass
class AnswerSpan:
    text: str
    start: int  # character offsets into the context
    end: int
    score: float  # probability of the span within its window (start prob x end prob, at the answer_temperature)


@lru_cache(maxsize=16)  # SQuAD asks about five questions of each context, one after the other
def context_pieces(tokenizer, context: str) -> tuple[list[int], list[tuple[int, int]]]:
    """The context's piece ids and character spans (shared between calls: read, never changed)."""
    return tokenizer.encode_with_offsets(context)


def encode_windows(tokenizer, question: str, context: str, window_tokens: int, stride: int) -> list[Window]:
    question_ids = tokenizer.encode(question)[:MAX_QUESTION_TOKENS]
    prefix = [tokenizer.token_id(Answer.token)] + question_ids + [tokenizer.eos_id]
    context_ids, spans = context_pieces(tokenizer, context)
    matches = question_match_flags(question, context, spans)
    room = window_tokens - len(prefix) - 1
    windows, first = [], 0
    while True:
        last = min(len(context_ids), first + room)
        windows.append(Window(prefix + context_ids[first:last] + [tokenizer.eos_id], len(prefix), spans[first:last],
                              [0] * len(prefix) + matches[first:last] + [0]))
        if last >= len(context_ids):
            return windows
        first += stride


def question_positions(context_starts, length: int):
    """(batch, length) True at each window's question pieces: after the task token,
    before the </s> that ends the question (context_starts: a (batch,) tensor)."""
    import torch

    positions = torch.arange(length, device=context_starts.device)
    return (positions >= 1) & (positions < context_starts[:, None] - 1)


def window_batch(windows: list[Window], pad_id: int, device: str = "cpu"):
    """The model inputs of a batch of windows: ids, question-match flags and question positions."""
    import torch

    from nlpcli.batching import pad

    src = pad([w.ids for w in windows], pad_id).to(device)
    question_match = pad([w.question_match for w in windows], 0).to(device)
    context_starts = torch.tensor([w.context_start for w in windows], device=device)
    return src, question_match, question_positions(context_starts, src.size(1))


def piece_range(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """First and last piece (inclusive) covering characters [start, end), or
    None if the window does not hold the whole span."""
    first = next((i for i, (s, e) in enumerate(spans) if e > start and e > s), None)
    last = next((i for i in range(len(spans) - 1, -1, -1) if spans[i][0] < end and spans[i][1] > spans[i][0]), None)
    if first is None or last is None or first > last:
        return None
    if spans[first][0] > start or spans[last][1] < end:
        return None
    return first, last


def span_text(context: str, spans: list[tuple[int, int]], first: int, last: int) -> tuple[str, int, int]:
    """The answer's text and character offsets: the pieces' span, without the
    space a piece carries before its word, widened to whole words."""
    start, end = spans[first][0], spans[last][1]
    while start < end and context[start].isspace():
        start += 1
    while 0 < start and context[start - 1].isalnum() and context[start].isalnum():
        start -= 1
    while end < len(context) and context[end - 1].isalnum() and context[end].isalnum():
        end += 1
    return context[start:end], start, end


class QuestionAnswerer:
    def __init__(self, model, tokenizer, device: str = "cpu", window_tokens: int = 256, stride: int = 128) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.window_tokens = min(window_tokens, model.config.max_positions)
        self.stride = stride

    def answer(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> list[AnswerSpan | None]:
        """Best answer per (question, context); None when either is blank."""
        import torch

        jobs = []  # (pair index, window)
        for index, (question, context) in enumerate(pairs):
            if question.strip() and context.strip():
                jobs += [(index, w) for w in encode_windows(self.tokenizer, question, context, self.window_tokens, self.stride)]
        best: list[AnswerSpan | None] = [None] * len(pairs)
        best_logit = [float("-inf")] * len(pairs)
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start : start + batch_size]
            src, question_match, question_mask = window_batch([w for _, w in batch], self.tokenizer.pad_id, self.device)
            config = self.model.config
            with torch.inference_mode():
                start_logits, end_logits = self.model.span_pair_logits(src, question_match, question_mask=question_mask)
            for row, (index, window) in enumerate(batch):
                found = best_span(start_logits[row].cpu(), end_logits[row].cpu(), window, config.answer_end_given_start,
                                  config.answer_temperature, config.answer_length_penalty)
                if found is None:
                    continue
                logit, first, last, probability = found
                if logit > best_logit[index]:
                    text, char_start, char_end = span_text(pairs[index][1], window.spans, first, last)
                    best_logit[index] = logit
                    best[index] = AnswerSpan(text, char_start, char_end, round(probability, 4))
        return best


def answer_attention(answerer: QuestionAnswerer, question: str, context: str, answer: AnswerSpan):
    """Encoder self-attention of the answer's pieces over question + context,
    in the first window that holds the whole answer."""
    from nlpcli.attention_maps import encoder_attention

    tok = answerer.tokenizer
    for window in encode_windows(tok, question, context, answerer.window_tokens, answerer.stride):
        found = piece_range(window.spans, answer.start, answer.end)
        if found:
            positions = list(range(window.context_start + found[0], window.context_start + found[1] + 1))
            return encoder_attention(answerer.model, tok, window.ids, positions, tok.pieces([window.ids[p] for p in positions]),
                                     question_match=window.question_match)
    return None


def best_span(start_logits, end_logits, window: Window, end_given_start: bool = False, temperature: float = 1.0,
              length_penalty: float = 0.0):
    """(summed logit, first piece, last piece, probability) of the best span of at
    most end_logits.size(1) context pieces, scored within the window; each piece
    after the first costs ``length_penalty`` (a length prior: the span pointer
    alone prefers answers longer than the gold ones).

    start_logits (positions,); end_logits (positions, max span): [s, w] scores
    the end s + w given the start s (Seq2SeqTransformer.span_pair_logits). The
    probability is the start's softmax over the window times the end's: over the
    window, or for an end_given_start model over the ends allowed after the start,
    each of logits / ``temperature`` (the span chosen does not depend on it)."""
    import torch

    n = len(window.spans)
    if n == 0:
        return None
    offset, width = window.context_start, end_logits.size(1)
    # context pieces only: the question and position 0 (the no-answer target) never answer
    starts = torch.arange(n)[:, None]
    ends = starts + torch.arange(width)
    # pieces with an empty character span (a lone boundary mark, a byte piece's first bytes) cannot start or end a span
    empty = torch.tensor([s == e for s, e in window.spans] + [True] * width)
    valid = (ends < n) & ~empty[starts] & ~empty[ends]
    pair = start_logits[offset : offset + n, None] + end_logits[offset : offset + n] - length_penalty * torch.arange(width)
    pair = pair.masked_fill(~valid, float("-inf"))
    flat = int(pair.argmax())
    first, length = divmod(flat, width)
    if not torch.isfinite(pair[first, length]):
        return None
    start_probability = (start_logits / temperature).softmax(-1)[offset + first]
    if end_given_start:
        end_probability = (end_logits[offset + first] / temperature).softmax(-1)[length]
    else:  # the end scores do not depend on the start: [j, 0] is token j's end score
        end_probability = (end_logits[:, 0] / temperature).softmax(-1)[offset + first + length]
    return float(pair[first, length]), first, first + length, float(start_probability * end_probability)


@dataclass
class QuestionRecord:
    line: int  # the input line, or the question's place in a SQuAD file
    id: str
    question: str
    context: str


def question_records(records, input_format: str, context: str | None, source_name: str):
    """QuestionRecords from text lines (questions about ``context``) or jsonl
    lines with id, context and question; a blank line is an empty record."""
    for record in records:
        if not record.text.strip():
            yield QuestionRecord(record.line, str(record.line), "", "")
        elif input_format == "jsonl":
            where = f"{source_name}, line {record.line}"
            fields = parse_object(record.text, where)
            yield QuestionRecord(record.line, str(fields.get("id", record.line)), string_field(fields, "question", where),
                                 string_field(fields, "context", where))
        else:
            yield QuestionRecord(record.line, str(record.line), record.text, context or "")


def squad_question_records(path: str):
    return [QuestionRecord(number, q.id, q.question, q.context) for number, q in enumerate(read_squad(path), start=1)]


def answer_record(question: QuestionRecord, answer: AnswerSpan | None, fmt: str) -> list[str]:
    if fmt == "text":
        return [answer.text if answer else ""]
    record = {"id": question.id, "question": question.question, "answer": answer.text if answer else "",
              "score": answer.score if answer else None, "start": answer.start if answer else None,
              "end": answer.end if answer else None}
    if answer is None:
        record["empty"] = True
    return [json.dumps(record, ensure_ascii=False)]


def answer_handler(answerer: QuestionAnswerer, fmt: str, batch_size: int, reporter=None):
    """The streaming driver's chunk handler for QuestionRecords. ``fmt`` "squad"
    writes one JSON object {id: answer text} at the end, as the official SQuAD
    script reads it."""
    squad = {}

    def lines(question, answer):
        if fmt != "squad":
            return answer_record(question, answer, fmt)
        squad[question.id] = answer.text if answer else ""
        return []

    return ChunkHandler(
        lambda chunk: answerer.answer([(q.question, q.context) for q in chunk], batch_size), lines,
        reporter and (lambda q, answer: reporter.report(q.line, q.question, answer and answer_attention(answerer, q.question, q.context, answer))),
        closing=(lambda: [json.dumps(squad, ensure_ascii=False)]) if fmt == "squad" else None)


def read_context(value: str, warn=None) -> str:
    """--context: the text of the file ``value`` names, if it names one, else ``value``
    itself. A value that cannot be a file name (too long, a NUL) is text, never an
    error; one word that looks like a path but names no file gets a warning."""
    path = Path(value)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # ENAMETOOLONG and the like: no file can have this name
        is_file = False
    if not is_file:
        if warn and re.fullmatch(r"\S*(/\S*|\.[A-Za-z]\w{0,4})", value):
            warn(f"--context {value}: no such file; answering from these words as the context")
        return value
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"--context {value}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise InputError(f"--context {value}: cannot read the file ({error.strerror})") from None


def question_format(requested: str, context: str | None, questions, input: str | None) -> str:
    """The format questions come in: ``requested``, or for "auto", text when there is a
    --context or questions are given as arguments, squad for a .json file, else jsonl."""
    if requested != "auto":
        return requested
    return "text" if context is not None or questions else "squad" if (input or "").endswith(".json") else "jsonl"
