"""tag-entities: raw text or pre-tokenized words in, BIO tags and entity spans
out. The encoder reads ``<entities> pieces-of-every-word </s>``; the tag of a
word is read off the encoder state of its first SentencePiece piece (the others
are ignored), and a Viterbi pass over the words keeps the tag sequence valid
BIO: ``I-X`` only follows ``B-X`` or ``I-X``. A model with entity_crf scores
whole tag paths (a linear-chain CRF).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from nlpcli.data.conll import DOCSTART, read_conll
from nlpcli.data.parallel import read_lines
from nlpcli.errors import InputError
from nlpcli.features import word_shape_id
from nlpcli.tasks.base import IGNORE, EncoderTask
from nlpcli.textio import ChunkHandler

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
ENTITY_TAGS = ("O", *(f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in ("B", "I")))
# PTB-like words, as CoNLL-2003 is tokenized: abbreviations (U.S.), words with
# inner hyphens or apostrophes, numbers with separators, then any other symbol.
WORD = re.compile(r"(?:[^\W\d_]\.){2,}|\w+(?:[-'’.,]\w+)*|\S")


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
        return encode_words(tokenizer, words, window)

    def pool(self, spec, examples, tokenizer, window, model_config=None):
        """Each word's tag sits on its first piece; other positions are IGNORE. For
        a word_shapes model the word's shape id rides along in the same number,
        tag + len(ENTITY_TAGS) * shape (split_entity_target), so batches keep one
        target tensor of the source's length."""
        from nlpcli.batching import Pool

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
    def runner(self, loaded, device: str, options: dict | None = None) -> EntityTagger:
        return EntityTagger(loaded.model, loaded.tokenizer, device)

    def run(self, runner, inputs: list[str], settings):
        """Per line (entities, words with their tags), None for a blank line."""
        entities, words, cut = runner.tag_texts(inputs, settings.batch_size)
        return [found if text.strip() else None for text, found in zip(inputs, zip(entities, words))], cut

    def output_lines(self, source: str, result, fmt: str) -> list[str]:
        """inline ([PER John Smith] ...; "text" is the same), jsonl, or conll (word<TAB>tag)."""
        entities, words = result or ([], [])
        return entity_record(source, entities, words, "inline" if fmt == "text" else fmt)

    def attention(self, runner, source: str, result):
        if not result or not result[0]:
            return None
        return runner.attention([word for word, _, _, _ in result[1]], [tag for _, _, _, tag in result[1]])

    # ---- inference: pre-tokenized CoNLL (input format "conll") ------------------------
    def items(self, run, warn, options=None):
        records, name = super().items(run, warn, options)
        return (conll_items(records) if run.input_format == "conll" else records), name

    def streams(self, input_format: str) -> bool:
        return input_format != "conll"

    def handler(self, runner, settings, fmt, input_format, source_name, warn, reporter=None):
        if input_format != "conll":
            return super().handler(runner, settings, fmt, input_format, source_name, warn, reporter)
        return conll_handler(runner, settings.batch_size, source_name, warn, reporter)

    def scoring(self, hyp_paths: list[str], ref_paths: list[str]):
        """Entity-level precision, recall and F1, overall and per type, counted as conlleval
        counts, of tagged CoNLL (or tag-entities' jsonl) against the one gold CoNLL file
        ``ref_paths`` names."""
        from nlpcli.evaluate import read_entities

        (gold_path,) = ref_paths
        return read_entities(hyp_paths, gold_path)


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


# ---- the engine: named entities as a library call ------------------------------------
@dataclass
class Entity:
    text: str
    type: str
    start: int  # character offsets into the input line
    end: int
    score: float  # mean probability of the entity's tags (at the checkpoint's entity_temperature)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word of a raw line."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def encode_words(tokenizer, words: list[str], max_tokens: int) -> tuple[list[int], list[int]]:
    """Encoder ids and, per word, the position of its first piece (-1 for words
    cut off by ``max_tokens``)."""
    ids, firsts = [tokenizer.token_id(TagEntities.token)], []
    for pieces in tokenizer.encode_batch(words) if words else []:
        pieces = pieces or [tokenizer.unk_id]
        if len(ids) + len(pieces) + 1 > max_tokens:
            firsts.append(-1)
            continue
        firsts.append(len(ids))
        ids += pieces
    return ids + [tokenizer.eos_id], firsts


def word_shape_ids(words: list[str], firsts: list[int], length: int) -> list[int]:
    """Per encoder position: the shape id of the word that starts there, 0 elsewhere."""
    shapes = [0] * length
    for word, position in zip(words, firsts):
        if position >= 0:
            shapes[position] = word_shape_id(word)
    return shapes


def tags_to_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word + 1) of each entity in a valid BIO sequence."""
    spans, current = [], None
    for index, tag in enumerate(tags + ["O"]):
        if current and not (tag.startswith("I-") and tag[2:] == current[0]):
            spans.append((current[0], current[1], index))
            current = None
        if tag.startswith("B-"):
            current = (tag[2:], index)
    return spans


class EntityTagger:
    def __init__(self, model, tokenizer, device: str = "cpu") -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.window = model.config.max_positions

    def tag_words(self, sentences: list[list[str]], batch_size: int = 32) -> tuple[list[list[tuple[str, float]]], list[bool]]:
        """Per sentence, a (tag, probability) for every word, and whether words
        past the model's window had to be tagged O."""
        import torch

        from nlpcli.batching import pad
        from nlpcli.crf import viterbi

        transitions = getattr(self.model, "entity_transitions", None)
        results: list[list[tuple[str, float]]] = [[] for _ in sentences]
        cut = [False] * len(sentences)
        encoded = [encode_words(self.tokenizer, words, self.window) for words in sentences]
        order = [i for i in sorted(range(len(sentences)), key=lambda i: len(encoded[i][0])) if sentences[i]]
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            src = pad([encoded[i][0] for i in batch], self.tokenizer.pad_id).to(self.device)
            shapes = pad([word_shape_ids(sentences[i], encoded[i][1], len(encoded[i][0])) for i in batch], 0).to(self.device)
            with torch.inference_mode():
                logits = self.model.entity_logits(src, shapes).float().cpu()
            log_probs = logits.log_softmax(-1)  # the tag path is decided uncalibrated ...
            reported = (logits / self.model.config.entity_temperature).log_softmax(-1).exp()  # ... its probabilities calibrated
            for row, index in enumerate(batch):
                firsts = encoded[index][1]
                kept = [position for position in firsts if position >= 0]
                word_log_probs = log_probs[row, kept]
                path = viterbi(word_log_probs, transitions) if kept else []
                tagged = [(ENTITY_TAGS[t], float(reported[row, kept[w], t])) for w, t in enumerate(path)]
                cut[index] = len(kept) < len(firsts)
                results[index] = tagged + [("O", 1.0)] * (len(firsts) - len(kept))
        return results, cut

    def attention(self, words: list[str], tags: list[str]):
        """Encoder self-attention of each entity's first piece over the input."""
        from nlpcli.attention_maps import encoder_attention

        ids, firsts = encode_words(self.tokenizer, words, self.window)
        spans = [(kind, first, last) for kind, first, last in tags_to_spans(tags) if firsts[first] >= 0]
        labels = [f"{kind} {' '.join(words[first:last])}" for kind, first, last in spans]
        return encoder_attention(self.model, self.tokenizer, ids, [firsts[first] for _, first, _ in spans], labels,
                                 word_shapes=word_shape_ids(words, firsts, len(ids)))

    def tag_texts(self, texts: list[str], batch_size: int = 32) -> tuple[list[list[Entity]], list[list[tuple[str, int, int, str]]], list[bool]]:
        """Per raw line: its entities, its words with their tags, and whether it was cut."""
        split = [split_words(text) for text in texts]
        tagged, cut = self.tag_words([[w for w, _, _ in words] for words in split], batch_size)
        entities, words_out = [], []
        for text, words, tags in zip(texts, split, tagged):
            found = []
            for kind, first, last in tags_to_spans([tag for tag, _ in tags]):
                start, end = words[first][1], words[last - 1][2]
                score = sum(p for _, p in tags[first:last]) / (last - first)
                found.append(Entity(text[start:end], kind, start, end, round(score, 4)))
            entities.append(found)
            words_out.append([(w, s, e, tag) for (w, s, e), (tag, _) in zip(words, tags)])
        return entities, words_out, cut


def inline_markup(text: str, entities: list[Entity]) -> str:
    """``[PER John Smith] lives in [LOC Paris]``"""
    out, position = [], 0
    for entity in entities:
        out += [text[position : entity.start], f"[{entity.type} {entity.text}]"]
        position = entity.end
    out.append(text[position:])
    return "".join(out)


def entity_record(text: str, entities: list[Entity], words: list[tuple[str, int, int, str]], fmt: str) -> list[str]:
    if fmt == "jsonl":
        record = {"text": text, "entities": [vars(e) for e in entities]}
        if not text.strip():
            record["empty"] = True
        return [json.dumps(record, ensure_ascii=False)]
    if fmt == "conll":
        return [f"{word}\t{tag}" for word, _, _, tag in words] + [""]
    return [inline_markup(text, entities) if text.strip() else ""]


@dataclass
class ConllSentence:
    line: int  # the line of its first token
    records: list  # its token lines, as textio Records


def conll_items(records):
    """CoNLL records grouped for the streaming driver: a ConllSentence for each
    run of token lines, and the blank and -DOCSTART- lines as they are."""
    sentence = []
    for record in records:
        token_line = record.text.strip() and not record.text.split()[0] == DOCSTART
        if token_line:
            sentence.append(record)
            continue
        if sentence:
            yield ConllSentence(sentence[0].line, sentence)
            sentence = []
        yield record
    if sentence:
        yield ConllSentence(sentence[0].line, sentence)


def conll_tokens(sentence: ConllSentence, source_name: str) -> list[str]:
    tokens = []
    for record in sentence.records:
        if record.text[0].isspace():
            raise InputError(f"{source_name}, line {record.line}: malformed CoNLL line (the first column, the token, is empty)")
        tokens.append(record.text.split()[0])
    return tokens


def conll_handler(tagger: EntityTagger, batch_size: int, source_name: str, warn, reporter=None):
    """The streaming driver's chunk handler for pre-tokenized CoNLL (conll_items):
    ``token<TAB>tag`` out, one line per input line, blank and -DOCSTART- lines
    passed through, so the output lines up with gold files; the progress counts sentences."""
    def run(chunk):
        sentences = [item for item in chunk if isinstance(item, ConllSentence)]
        tokens = [conll_tokens(sentence, source_name) for sentence in sentences]
        tagged, cut = tagger.tag_words(tokens, batch_size)
        results = iter(zip(tokens, tagged, cut))
        return [next(results) if isinstance(item, ConllSentence) else None for item in chunk]

    def after(sentence, done):  # the warning and the attention map of each sentence in turn, as they always came
        if done is None:
            return
        tokens, tags, was_cut = done
        if was_cut:
            warn(f"{source_name}, line {sentence.line}: sentence longer than the model's window; words past it are tagged O")
        if reporter and any(tag != "O" for tag, _ in tags):
            reporter.report(sentence.line, " ".join(tokens), tagger.attention(tokens, [tag for tag, _ in tags]))

    def lines(item, done):
        if done is None:
            return [item.text.rstrip()]
        tokens, tags, _ = done
        return [f"{token}\t{tag}" for token, (tag, _) in zip(tokens, tags)]

    return ChunkHandler(run, lines, after, lambda item: isinstance(item, ConllSentence))
