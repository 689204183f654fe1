"""translate: texts in, hypotheses out, in input order. The decoder writes the
sentence in the target language. The encoder input starts with the *target*
language token (``<2de> source </s>``), so one model serves every direction it
was trained on."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from nlpcli.data.parallel import drop_empty, read_line_aligned, read_tab_separated
from nlpcli.errors import InputError, RecipeError
from nlpcli.tasks.base import DecoderTask, DevSet, Generated, language_token, parse_direction
from nlpcli.textio import ChunkHandler

if TYPE_CHECKING:  # nlpcli.decoding imports torch
    from nlpcli.decoding import GenerationSettings


def read_line_aligned_set(spec, path) -> list[dict]:
    return drop_empty(read_line_aligned(path, spec.languages))


def read_tsv_set(spec, path) -> list[dict]:
    return drop_empty(read_tab_separated(path, spec.languages))


class Translate(DecoderTask):
    """Data sets: format "line-aligned" (``path`` is a prefix, one file per
    language: ``path.en``) or "tsv" (one column per language in ``languages``
    order); ``directions`` lists the directions trained. An example is
    {language: sentence}, so one set trains both directions."""

    name = "translate"
    formats = {"line-aligned": read_line_aligned_set, "tsv": read_tsv_set}

    def check_spec(self, spec) -> None:
        if not spec.directions:
            raise RecipeError(f"data set {spec.name!r}: a translation set needs directions")

    def carve_key(self, spec) -> str:
        return spec.languages[0]

    def training_texts(self, spec, example):
        return (example[lang] for lang in spec.languages)

    def special_tokens(self, recipe) -> list[str]:
        return [language_token(lang) for lang in trained_languages(recipe.train_data)]

    def served(self, recipe) -> dict:
        return {"directions": trained_directions(recipe.train_data), "languages": trained_languages(recipe.train_data)}

    def data_entry(self, spec) -> dict:
        return {"directions": spec.directions}

    def pool(self, spec, examples, tokenizer, window, model_config=None):
        """Each direction of the set becomes (<2tgt> source </s>, <s> target </s>)
        pairs; a pair with either side longer than the window is skipped."""
        from nlpcli.batching import Pool

        ids = {lang: tokenizer.encode_batch([ex[lang] for ex in examples]) for lang in spec.languages}
        pool = Pool(spec.name, [], [], spec.weight)
        for direction in spec.directions:
            source, target = parse_direction(direction)
            for src, tgt in zip(ids[source], ids[target]):
                if len(src) + 2 <= window and len(tgt) + 2 <= window:
                    pool.sources.append(self.input_ids(tokenizer, src, window, language_token(target))[0])
                    pool.targets.append(self.target_ids(tokenizer, tgt))
        return pool

    def dev_sets(self, spec, examples, tokenizer, recipe) -> list[DevSet]:
        """One dev set per direction, each also scored with BLEU."""
        window, dev_sets = self.training_window(recipe), []
        for direction in spec.directions:
            source, target = parse_direction(direction)
            single = type(spec)(spec.name, spec.path, task=self.name, languages=spec.languages, directions=[direction])
            dev_sets.append(DevSet(f"{spec.name}.{direction}", self.name, self.pool(single, examples, tokenizer, window),
                                   direction, tuple(ex[source] for ex in examples), tuple(ex[target] for ex in examples)))
        return dev_sets

    def dev_scores(self, dev, model, tokenizer, device, settings) -> dict:
        """Greedy (or ``settings.beam``) BLEU of the dev set's translations."""
        from nlpcli.metrics import bleu

        results, _ = Translator(model, tokenizer, device).translate(list(dev.sources), parse_direction(dev.direction)[1], settings)
        hypotheses = [r[0].text if r else "" for r in results]
        return {"bleu": round(bleu(hypotheses, list(dev.references)), 2)}

    def write_dev_files(self, dev, folder) -> None:
        source, target = parse_direction(dev.direction)
        (folder / f"{dev.name}.{source}").write_text("\n".join(dev.sources) + "\n", encoding="utf-8")
        (folder / f"{dev.name}.{target}").write_text("\n".join(dev.references) + "\n", encoding="utf-8")

    # ---- inference --------------------------------------------------------------
    def runner(self, loaded, device: str, options: dict | None = None) -> TranslationRunner:
        """A Translator of the checkpoint's style into ``options["target"]`` (from
        ``options["source"]``, if given), refused if the checkpoint does not translate so.
        It decodes with the checkpoint's vocabulary shortlist, if it has one, unless
        ``options["shortlist"]`` is False."""
        options = options or {}
        source, target = options.get("source"), options.get("target", "de")
        check_direction(loaded.info, source, target)
        shortlist = None
        if options.get("shortlist", True):
            from nlpcli.shortlist import VocabularyShortlist

            shortlist = VocabularyShortlist.load(loaded.path, loaded.model.config.vocab_size, device)
        translator = Translator(loaded.model, loaded.tokenizer, device, loaded.info.tasks[self.name].get("style", "nlpcli"),
                                source, shortlist)
        return TranslationRunner(translator, target, options.get("alignments", False))

    def run(self, runner: TranslationRunner, inputs: list[str], settings):
        """Per text its n-best translations (None for a blank text)."""
        results, cut = runner.translator.translate(inputs, runner.target, settings)
        return [translations or None for translations in results], cut

    def output_lines(self, source: str, result, fmt: str) -> list[str]:
        return translation_record(source, result or [], fmt, 0)

    def attention(self, runner: TranslationRunner, source: str, result):
        return runner.translator.attention(source, runner.target, result[0]) if result else None

    def handler(self, runner: TranslationRunner, settings, fmt, input_format, source_name, warn, reporter=None):
        """As every task's, plus Moses n-best numbering and --alignments."""
        return translation_handler(runner.translator, runner.target, settings, fmt, source_name, warn, reporter,
                                   runner.with_alignments)


@dataclass
class TranslationRunner:
    """A Translator bound to the target language of a run."""

    translator: Translator
    target: str
    with_alignments: bool = False

    @property
    def window(self) -> int:
        return self.translator.max_positions


def translation_sets(specs) -> list:
    return [spec for spec in specs if spec.task == Translate.name]


def trained_directions(specs) -> list[str]:
    """The directions of the translation sets among ``specs``, in order of first mention."""
    found = []
    for spec in translation_sets(specs):
        found += [d for d in spec.directions if d not in found]
    return found


def trained_languages(specs) -> list[str]:
    found = []
    for direction in trained_directions(specs):
        found += [lang for lang in parse_direction(direction) if lang not in found]
    return found


# ---- the engine: translation as a library call ---------------------------------------
def supported_directions(info) -> list[str]:
    return list(info.tasks.get(Translate.name, {}).get("directions", []))


def check_direction(info, source: str | None, target: str) -> None:
    """Refuse a direction the checkpoint was not trained for, listing what it supports.
    An imported M2M100-style checkpoint translates between any two of its languages."""
    spec = info.tasks.get(Translate.name, {})
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

    def __init__(self, model, tokenizer, device: str = "cpu", style: str = "nlpcli", source: str | None = None,
                 shortlist=None) -> None:
        """``shortlist``: a VocabularyShortlist every search of this translator uses."""
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.task = Translate()
        self.max_positions = model.config.max_positions
        self.style, self.source, self.shortlist = style, source, shortlist

    def source_token(self, target: str) -> str:
        return language_token(self.source if self.style == "m2m100" else target)

    def encode(self, text: str, target: str) -> tuple[list[int], bool]:
        return self.task.encode(self.tokenizer, text, self.max_positions, self.source_token(target))

    def decoder_prefix(self, target: str) -> list[int]:
        tok = self.tokenizer
        return [tok.eos_id, tok.token_id(language_token(target))] if self.style == "m2m100" else [tok.bos_id]

    def translate(self, texts: list[str], target: str, settings: GenerationSettings) -> tuple[list[list[Generated]], list[bool]]:
        """Returns, per input text, its n-best translations (empty for a blank
        text) and whether the source was truncated to fit the model."""
        results: list[list[Generated]] = [[] for _ in texts]
        truncated = [False] * len(texts)
        encoded = {}
        for index, text in enumerate(texts):
            if text.strip():
                encoded[index], truncated[index] = self.encode(text, target)
        hypotheses = self.translate_ids(list(encoded.values()), settings, self.decoder_prefix(target))
        for index, nbest in zip(encoded, hypotheses):
            results[index] = [Generated(self.tokenizer.decode(h.tokens), h.score, h.token_logprobs, h.tokens,
                                          self.tokenizer.pieces(h.tokens)) for h in nbest]
        return results, truncated

    def attention(self, text: str, target: str, translation: Generated):
        """Cross-attention of the translation's tokens over the source's."""
        from nlpcli.attention_maps import cross_attention

        source_ids, _ = self.encode(text, target)
        return cross_attention(self.model, self.tokenizer, source_ids, translation.tokens, self.decoder_prefix(target))

    def translate_ids(self, sources: list[list[int]], settings: GenerationSettings, prefix: list[int] | None = None) -> list[list]:
        """n-best Hypothesis lists for encoded sources, in the order given."""
        from nlpcli.decoding import generate

        tok = self.tokenizer
        if self.shortlist is not None:
            settings = replace(settings, shortlist=self.shortlist)
        return generate(self.model, sources, settings, prefix or [tok.bos_id], tok.eos_id, tok.pad_id, self.device)


def translation_record(source: str, translations: list[Generated], fmt: str, index: int,
                       alignment: list[tuple[int, int]] | None = None) -> list[str]:
    """Output lines for one input record; ``alignment`` (source word, target word)
    pairs are appended Moses-style (text: ``translation ||| 0-0 1-1``)."""
    best = translations[0] if translations else None
    if fmt == "jsonl":
        record = {"source": source, "translation": best.text if best else "",
                  "score": round(best.score, 4) if best else None}
        if best:
            record.update(best.token_confidence())
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
