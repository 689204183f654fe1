"""Translation as a library call: texts in, hypotheses out, in input order."""
from __future__ import annotations

from nlpcli.decoding import GenerationSettings
from nlpcli.errors import InputError
from nlpcli.tasks import TASKS, language_token, parse_direction
from nlpcli.tasks.base import Generated

Translation = Generated  # a translation is a text the decoder wrote, as a summary is


def supported_directions(info) -> list[str]:
    return list(info.tasks.get("translate", {}).get("directions", []))


def check_direction(info, source: str | None, target: str) -> None:
    """Refuse a direction the checkpoint was not trained for, listing what it supports.
    An imported M2M100-style checkpoint translates between any two of its languages."""
    spec = info.tasks.get("translate", {})
    if spec.get("style") == "m2m100":
        languages = spec.get("languages", [])
        if not source:
            raise InputError("this checkpoint (M2M100 style) reads the source language from its input: give --src")
        unknown = [code for code in (source, target) if code not in languages]
        if unknown:
            raise InputError(f"this checkpoint has no language {unknown[0]}; it knows: {', '.join(languages)}")
        return
    directions = supported_directions(info)
    targets = {parse_direction(d)[1] for d in directions}
    if target not in targets or (source and f"{source}-{target}" not in directions):
        asked = f"{source}-{target}" if source else f"into {target}"
        raise InputError(f"this checkpoint does not translate {asked}; it supports: {', '.join(directions) or 'no translation'}")


class Translator:
    """``style`` "nlpcli": the source starts with the *target* language token and
    decoding starts from <s>. "m2m100" (imported checkpoints): the source starts
    with the *source* language token and decoding from </s> <2tgt>, as M2M100
    was trained."""

    def __init__(self, model, tokenizer, device: str = "cpu", style: str = "nlpcli", source: str | None = None) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_positions = model.config.max_positions
        self.style, self.source = style, source

    def source_token(self, target: str) -> str:
        return language_token(self.source if self.style == "m2m100" else target)

    def encode(self, text: str, target: str) -> tuple[list[int], bool]:
        return TASKS["translate"].encode(self.tokenizer, text, self.max_positions, self.source_token(target))

    def decoder_prefix(self, target: str) -> list[int]:
        tok = self.tokenizer
        return [tok.eos_id, tok.token_id(language_token(target))] if self.style == "m2m100" else [tok.bos_id]

    def translate(self, texts: list[str], target: str, settings: GenerationSettings) -> tuple[list[list[Translation]], list[bool]]:
        """Returns, per input text, its n-best translations (empty for a blank
        text) and whether the source was truncated to fit the model."""
        results: list[list[Translation]] = [[] for _ in texts]
        truncated = [False] * len(texts)
        encoded = {}
        for index, text in enumerate(texts):
            if text.strip():
                encoded[index], truncated[index] = self.encode(text, target)
        hypotheses = self.translate_ids(list(encoded.values()), settings, self.decoder_prefix(target))
        for index, nbest in zip(encoded, hypotheses):
            results[index] = [Translation(self.tokenizer.decode(h.tokens), h.score, h.token_logprobs, h.tokens,
                                          self.tokenizer.pieces(h.tokens)) for h in nbest]
        return results, truncated

    def attention(self, text: str, target: str, translation: Translation):
        """Cross-attention of the translation's tokens over the source's."""
        from nlpcli.attention_maps import cross_attention

        source_ids, _ = self.encode(text, target)
        return cross_attention(self.model, self.tokenizer, source_ids, translation.tokens, self.decoder_prefix(target))

    def translate_ids(self, sources: list[list[int]], settings: GenerationSettings, prefix: list[int] | None = None) -> list[list]:
        """n-best Hypothesis lists for encoded sources, in the order given."""
        from nlpcli.decoding import generate

        tok = self.tokenizer
        return generate(self.model, sources, settings, prefix or [tok.bos_id], tok.eos_id, tok.pad_id, self.device)


def token_confidence(pieces: list[str], logprobs: list[float]) -> dict:
    """Per output token (</s> included) its piece and probability, for jsonl output."""
    import math

    return {"tokens": pieces, "token_probs": [round(math.exp(lp), 4) for lp in logprobs]}


def translation_record(source: str, translations: list[Translation], fmt: str, index: int,
                       alignment: list[tuple[int, int]] | None = None) -> list[str]:
    """Output lines for one input record; ``alignment`` (source word, target word)
    pairs are appended Moses-style (text: ``translation ||| 0-0 1-1``)."""
    import json

    best = translations[0] if translations else None
    if fmt == "jsonl":
        record = {"source": source, "translation": best.text if best else "",
                  "score": round(best.score, 4) if best else None}
        if best:
            record.update(token_confidence(best.pieces, best.token_logprobs))
        else:
            record["empty"] = True
        if alignment is not None:
            record["alignments"] = [list(pair) for pair in alignment]
        if len(translations) > 1:
            record["n_best"] = [{"translation": t.text, "score": round(t.score, 4)} for t in translations]
        return [json.dumps(record, ensure_ascii=False)]
    if len(translations) > 1:  # Moses n-best: index ||| hypothesis ||| score
        return [f"{index} ||| {t.text} ||| {t.score:.4f}" for t in translations]
    if best and alignment is not None:
        return [f"{best.text} ||| {' '.join(f'{i}-{j}' for i, j in alignment)}"]
    return [best.text if best else ""]


def translation_handler(translator: Translator, target: str, settings: GenerationSettings, fmt: str = "text",
                        source_name: str = "<stdin>", warn=None, reporter=None, with_alignments: bool = False):
    """The streaming driver's chunk handler (nlpcli.textio.process_records) that
    translates text records into ``target``. ``reporter`` (an AttentionReporter)
    gets each record's cross-attention."""
    from nlpcli.attention_maps import alignments
    from nlpcli.textio import ChunkHandler

    def run(chunk):
        results, truncated = translator.translate([r.text for r in chunk], target, settings)
        return [(translations, cut, translator.attention(record.text, target, translations[0])
                 if translations and (reporter or with_alignments) else None)
                for record, translations, cut in zip(chunk, results, truncated)]

    def after(record, done):  # the warning and the attention map of each record in turn, as they always came
        translations, cut, attention = done
        if cut and warn:
            warn(f"{source_name}, line {record.line}: longer than the model's window "
                 f"({translator.max_positions} tokens); translated the beginning only")
        if reporter:
            reporter.report(record.line, record.text, attention)

    def lines(record, done):
        translations, _, attention = done
        alignment = (alignments(attention) if attention else []) if with_alignments else None
        # a record's line is its place in the input: Moses n-best numbers records from 0
        return translation_record(record.text, translations, fmt, record.line - 1, alignment)

    return ChunkHandler(run, lines, after)
