"""tag-entities: the tag of each word is read off the encoder state of its
first SentencePiece piece (``<entities> pieces-of-every-word </s>``); a model
with entity_crf scores whole tag paths (a linear-chain CRF)."""
from __future__ import annotations

from nlpcli.data.conll import read_conll
from nlpcli.data.parallel import read_lines
from nlpcli.errors import InputError
from nlpcli.tasks.base import IGNORE, EncoderTask

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
ENTITY_TAGS = ("O", *(f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in ("B", "I")))


def read_conll_set(spec, path) -> list[dict]:
    """CoNLL-2003: a token a line, token first, BIO tag last; a blank line ends a sentence."""
    sentences = read_conll(read_lines(path), str(path))
    for sentence in sentences:
        for tag, line in zip(sentence.tags, sentence.lines):
            if tag not in ENTITY_TAGS:
                raise InputError(f"{path}, line {line}: tag {tag!r} is not one of {', '.join(ENTITY_TAGS)}")
    return [{"tokens": s.tokens, "tags": s.tags, "carve_key": " ".join(s.tokens)} for s in sentences]


class TagEntities(EncoderTask):
    """Data sets: format "conll"."""

    name = "tag-entities"
    token = "<entities>"
    formats = {"conll": read_conll_set}
    temperature_field = "entity_temperature"
    too_long = "longer than the model's window ({window} tokens); words past it are tagged O"

    def training_texts(self, spec, example):
        return (" ".join(example["tokens"]),)

    def served(self, recipe) -> dict:
        return {"tags": list(ENTITY_TAGS)}

    def configure_heads(self, config, trained: bool) -> None:
        config.entity_tags = len(ENTITY_TAGS) if trained else 0
        config.entity_crf = config.entity_crf and trained

    def encode(self, tokenizer, words: list[str], window: int, token: str = "") -> tuple[list[int], list[int]]:
        """The encoder ids of a sentence's words and, per word, the position of
        its first piece (-1 for a word cut off by the window)."""
        from nlpcli.entities import encode_words

        return encode_words(tokenizer, words, window)

    def pool(self, spec, examples, tokenizer, window, model_config=None):
        """Each word's tag sits on its first piece; other positions are IGNORE. For
        a word_shapes model the word's shape id rides along in the same number,
        tag + len(ENTITY_TAGS) * shape (split_entity_target), so batches keep one
        target tensor of the source's length."""
        from nlpcli.batching import Pool
        from nlpcli.entities import word_shape_ids

        with_shapes = model_config is not None and model_config.word_shapes
        tag_ids = {tag: i for i, tag in enumerate(ENTITY_TAGS)}
        pool = Pool(spec.name, [], [], spec.weight)
        for example in examples:
            ids, firsts = self.encode(tokenizer, example["tokens"], window)
            shapes = word_shape_ids(example["tokens"], firsts, len(ids)) if with_shapes else [0] * len(ids)
            labels = [IGNORE] * len(ids)
            for position, tag in zip(firsts, example["tags"]):
                if position >= 0:
                    labels[position] = tag_ids[tag] + len(ENTITY_TAGS) * shapes[position]
            pool.sources.append(ids)
            pool.targets.append(labels)
        return pool

    def target_padding(self, pad_id: int) -> int:
        return IGNORE

    def prediction_count(self, tgt, pad_id: int) -> int:
        return int(tgt.ne(IGNORE).sum())

    def scores(self, model, src, tgt):
        """(batch, src_len, tags) and (batch, src_len), IGNORE off words' first pieces."""
        tags, shapes = split_entity_target(tgt)
        return model.entity_logits(src, shapes), tags

    def loss(self, model, src, tgt, pad_id: int, label_smoothing: float):
        if not model.config.entity_crf:
            return super().loss(model, src, tgt, pad_id, label_smoothing)
        scores, gold = self.scores(model, src, tgt)
        return entity_crf_loss(scores, gold, model.entity_transitions)

    # ---- inference: raw text lines ------------------------------------------------
    def runner(self, loaded, device: str, options: dict | None = None):
        from nlpcli.entities import EntityTagger

        return EntityTagger(loaded.model, loaded.tokenizer, device)

    def run(self, runner, inputs: list[str], settings):
        """Per line (entities, words with their tags), None for a blank line."""
        entities, words, cut = runner.tag_texts(inputs, settings.batch_size)
        return [found if text.strip() else None for text, found in zip(inputs, zip(entities, words))], cut

    def output_lines(self, source: str, result, fmt: str) -> list[str]:
        """inline ([PER John Smith] ...; "text" is the same), jsonl, or conll (word<TAB>tag)."""
        from nlpcli.entities import entity_record

        entities, words = result or ([], [])
        return entity_record(source, entities, words, "inline" if fmt == "text" else fmt)

    def attention(self, runner, source: str, result):
        if not result or not result[0]:
            return None
        return runner.attention([word for word, _, _, _ in result[1]], [tag for _, _, _, tag in result[1]])

    # ---- inference: pre-tokenized CoNLL (input format "conll") ------------------------
    def items(self, run, warn, options=None):
        from nlpcli.entities import conll_items

        records, name = super().items(run, warn, options)
        return (conll_items(records) if run.input_format == "conll" else records), name

    def streams(self, input_format: str) -> bool:
        return input_format != "conll"

    def handler(self, runner, settings, fmt, input_format, source_name, warn, reporter=None):
        if input_format != "conll":
            return super().handler(runner, settings, fmt, input_format, source_name, warn, reporter)
        from nlpcli.entities import conll_handler

        return conll_handler(runner, settings.batch_size, source_name, warn, reporter)


def split_entity_target(tgt):
    """(tags, word shape ids) of a TagEntities.pool target batch."""
    import torch

    is_word = tgt.ne(IGNORE)
    tags = torch.where(is_word, tgt % len(ENTITY_TAGS), IGNORE)
    return tags, torch.where(is_word, tgt // len(ENTITY_TAGS), 0)


def entity_crf_loss(logits, tgt, transitions):
    """CRF negative log-likelihood of the gold tags of each sentence's words
    (their first pieces), over the log-softmax scores that decoding uses too."""
    import torch

    from nlpcli.crf import sequence_nll

    is_word = tgt.ne(IGNORE)
    if not is_word.any():  # every word cut off by the window: nothing to learn from
        return logits.sum() * 0.0
    # each row's word positions first, in order (a stable sort of "not a word")
    positions = torch.sort((~is_word).int(), dim=1, stable=True).indices
    positions = positions[:, : int(is_word.sum(1).max())]
    words = is_word.gather(1, positions)
    emissions = logits.float().log_softmax(-1).gather(1, positions[..., None].expand(-1, -1, logits.size(-1)))
    has_words = words[:, 0]
    return sequence_nll(emissions[has_words], tgt.gather(1, positions)[has_words], words[has_words], transitions).sum()
