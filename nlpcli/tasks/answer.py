"""answer: extractive question answering. The encoder reads ``<answer>
question </s> context-window </s>``; a start and an end score per token pick
the answer span. A context longer than the window is read in windows that
start every half window."""
from __future__ import annotations

from nlpcli.data.squad import read_squad
from nlpcli.tasks.base import EncoderTask


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
        """The windows (nlpcli.answer.Window) of a (question, context) pair; a new
        window starts every ``stride`` context pieces (default: half a window)."""
        from nlpcli.answer import encode_windows

        question, context = question_and_context
        return encode_windows(tokenizer, question, context, window, stride or window // 2)

    def pool(self, spec, examples, tokenizer, window, model_config=None):
        """Every window that holds the whole gold answer becomes (ids, [start, end]).
        The other windows are left out, or, with answer_no_answer_windows, point
        start and end at position 0 (the task token: "no answer here", as BERT does;
        inference never answers there), so that window scores become comparable. A
        question_match model's targets carry the window's question-match flags, one
        per source position, after [start, end]."""
        from nlpcli.answer import piece_range
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
                pool.targets.append(target + (found_window.question_match if with_matches else []))
        return pool

    def scores(self, model, src, tgt):
        """(batch, 2, src_len), the start and the end scores, and (batch, 2), the gold start and end."""
        import torch

        question_match = tgt[:, 2:] if model.config.question_match else None
        start_logits, end_logits = model.span_logits(src, question_match, starts=tgt[:, 0])
        return torch.stack([start_logits, end_logits], dim=1), tgt[:, :2]

    def loss(self, model, src, tgt, pad_id: int, label_smoothing: float):
        return super().loss(model, src, tgt, pad_id, label_smoothing) / 2  # an answer is one prediction of two boundaries

    # ---- inference: questions (input formats text, jsonl, squad) --------------------------
    def runner(self, loaded, device: str, options: dict | None = None):
        from nlpcli.answer import QuestionAnswerer

        served = loaded.info.tasks[self.name]
        return QuestionAnswerer(loaded.model, loaded.tokenizer, device, served.get("window", 256), served.get("stride", 128))

    def items(self, run, warn, options: dict | None = None):
        """QuestionRecords: text lines are questions about ``options["context"]``
        (a file name or the text), jsonl lines carry id, context and question, and
        a SQuAD v1.1 file (-i FILE) holds them all."""
        from nlpcli.answer import question_records, read_context, squad_question_records
        from nlpcli.errors import InputError

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
        from nlpcli.answer import answer_record

        return answer_record(source, result, fmt)

    def attention(self, runner, source, result):
        from nlpcli.answer import answer_attention

        return answer_attention(runner, source.question, source.context, result) if result else None

    def handler(self, runner, settings, fmt, input_format, source_name, warn, reporter=None):
        """Format "squad" writes one JSON object {id: answer} after the last question."""
        from nlpcli.answer import answer_handler

        return answer_handler(runner, fmt, settings.batch_size, reporter)
