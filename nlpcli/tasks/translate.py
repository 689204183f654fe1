"""translate: the decoder writes the sentence in the target language. The
encoder input starts with the *target* language token (``<2de> source </s>``),
so one model serves every direction it was trained on."""
from __future__ import annotations

from dataclasses import dataclass

from nlpcli.data.parallel import drop_empty, read_line_aligned, read_tab_separated
from nlpcli.errors import RecipeError
from nlpcli.tasks.base import DecoderTask, DevSet, language_token, parse_direction


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
        from nlpcli.translate import Translator

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
        ``options["source"]``, if given), refused if the checkpoint does not translate so."""
        from nlpcli.translate import Translator, check_direction

        options = options or {}
        source, target = options.get("source"), options.get("target", "de")
        check_direction(loaded.info, source, target)
        translator = Translator(loaded.model, loaded.tokenizer, device, loaded.info.tasks[self.name].get("style", "nlpcli"), source)
        return TranslationRunner(translator, target, options.get("alignments", False))

    def run(self, runner: TranslationRunner, inputs: list[str], settings):
        """Per text its n-best translations (None for a blank text)."""
        results, cut = runner.translator.translate(inputs, runner.target, settings)
        return [translations or None for translations in results], cut

    def output_lines(self, source: str, result, fmt: str) -> list[str]:
        from nlpcli.translate import translation_record

        return translation_record(source, result or [], fmt, 0)

    def attention(self, runner: TranslationRunner, source: str, result):
        return runner.translator.attention(source, runner.target, result[0]) if result else None

    def handler(self, runner: TranslationRunner, settings, fmt, input_format, source_name, warn, reporter=None):
        """As every task's, plus Moses n-best numbering and --alignments."""
        from nlpcli.translate import translation_handler

        return translation_handler(runner.translator, runner.target, settings, fmt, source_name, warn, reporter,
                                   runner.with_alignments)


@dataclass
class TranslationRunner:
    """A Translator bound to the target language of a run."""

    translator: object  # nlpcli.translate.Translator
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
