"""Translation as a library call: texts in, hypotheses out, in input order."""
from __future__ import annotations

from dataclasses import dataclass

from nlpcli.errors import InputError
from nlpcli.tasks import language_token, parse_direction


@dataclass
class Translation:
    text: str
    score: float  # sequence log-probability (sum over target tokens, </s> included)
    token_logprobs: list[float]
    tokens: list[int]


@dataclass
class TranslationSettings:
    beam: int = 4
    n_best: int = 1
    max_len: int = 0  # 0: 1.5 * source length + 10, within the model's positions
    batch_size: int = 32
    length_penalty: float = 1.0


def supported_directions(info) -> list[str]:
    return list(info.tasks.get("translate", {}).get("directions", []))


def check_direction(info, source: str | None, target: str) -> None:
    directions = supported_directions(info)
    targets = {parse_direction(d)[1] for d in directions}
    if target not in targets or (source and f"{source}-{target}" not in directions):
        asked = f"{source}-{target}" if source else f"into {target}"
        raise InputError(f"this checkpoint does not translate {asked}; it supports: {', '.join(directions) or 'no translation'}")


def encode_source(tokenizer, text: str, target: str, max_tokens: int) -> tuple[list[int], bool]:
    """<2tgt> pieces </s>, cut to ``max_tokens``; returns the ids and whether it was cut."""
    pieces = tokenizer.encode(text)
    room = max_tokens - 2
    return [tokenizer.token_id(language_token(target))] + pieces[:room] + [tokenizer.eos_id], len(pieces) > room


class Translator:
    def __init__(self, model, tokenizer, device: str = "cpu") -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_positions = model.config.max_positions

    def translate(self, texts: list[str], target: str, settings: TranslationSettings) -> tuple[list[list[Translation]], list[bool]]:
        """Returns, per input text, its n-best translations (empty for a blank
        text) and whether the source was truncated to fit the model."""
        results: list[list[Translation]] = [[] for _ in texts]
        truncated = [False] * len(texts)
        encoded = {}
        for index, text in enumerate(texts):
            if text.strip():
                encoded[index], truncated[index] = encode_source(self.tokenizer, text, target, self.max_positions)
        hypotheses = self.translate_ids(list(encoded.values()), settings)
        for index, nbest in zip(encoded, hypotheses):
            results[index] = [Translation(self.tokenizer.decode(h.tokens), h.score, h.token_logprobs, h.tokens) for h in nbest]
        return results, truncated

    def translate_ids(self, sources: list[list[int]], settings: TranslationSettings) -> list[list]:
        """n-best Hypothesis lists for encoded sources, in the order given."""
        from nlpcli.batching import pad
        from nlpcli.decoding import beam_search, greedy_search

        results: list[list] = [[] for _ in sources]
        # batches of similar length waste little on padding; results go back to input order
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]), reverse=True)
        prefix = [self.tokenizer.bos_id]
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            src = pad([sources[i] for i in batch], self.tokenizer.pad_id).to(self.device)
            max_len = self.max_new_tokens(src.size(1), settings.max_len)
            if settings.beam == 1 and settings.n_best == 1:
                nbest = [[h] for h in greedy_search(self.model, src, prefix, self.tokenizer.eos_id, max_len)]
            else:
                nbest = beam_search(
                    self.model, src, prefix, self.tokenizer.eos_id, max_len,
                    beam_size=settings.beam, n_best=settings.n_best, length_penalty=settings.length_penalty,
                )
            for index, hyps in zip(batch, nbest):
                results[index] = hyps
        return results

    def max_new_tokens(self, source_length: int, cap: int) -> int:
        room = self.max_positions - 1  # the decoder prefix takes one position
        natural = int(1.5 * source_length) + 10
        return max(1, min(room, cap or natural))


def translation_record(source: str, translations: list[Translation], fmt: str, index: int) -> list[str]:
    """Output lines for one input record."""
    import json

    best = translations[0] if translations else None
    if fmt == "jsonl":
        record = {"source": source, "translation": best.text if best else "",
                  "score": round(best.score, 4) if best else None}
        if not best:
            record["empty"] = True
        if len(translations) > 1:
            record["n_best"] = [{"translation": t.text, "score": round(t.score, 4)} for t in translations]
        return [json.dumps(record, ensure_ascii=False)]
    if len(translations) > 1:  # Moses n-best: index ||| hypothesis ||| score
        return [f"{index} ||| {t.text} ||| {t.score:.4f}" for t in translations]
    return [best.text if best else ""]


def translate_stream(translator: Translator, records, writer, target: str, settings: TranslationSettings,
                     fmt: str = "text", chunk_size: int = 512, source_name: str = "<stdin>", warn=None,
                     on_progress=None) -> int:
    """Translate records chunk by chunk, writing each chunk's results in input
    order before reading the next, so memory stays bounded. Returns the count."""
    from nlpcli.textio import chunks

    count = 0
    for chunk in chunks(records, chunk_size):
        results, truncated = translator.translate([r.text for r in chunk], target, settings)
        for record, translations, cut in zip(chunk, results, truncated):
            if cut and warn:
                warn(f"{source_name}, line {record.line}: longer than the model's window "
                     f"({translator.max_positions} tokens); translated the beginning only")
            for line in translation_record(record.text, translations, fmt, count):
                writer.write(line)
            count += 1
        writer.flush()
        if on_progress:
            on_progress(count)
    return count
