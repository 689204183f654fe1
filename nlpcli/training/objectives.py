"""What each task trains: how its examples become (encoder input, target)
pairs, and the loss on a batch of them. Translation and summarization train
the decoder; sentiment, entities and answers train small output layers on the
shared encoder states."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nlpcli.batching import Pool, pad
from nlpcli.tasks import ENTITY_TAGS, TASK_TOKENS, language_token, parse_direction

IGNORE = -100  # cross_entropy's ignore_index: entity pieces after a word's first


def encode_translation(spec, examples, tokenizer, max_length: int, model_config=None) -> Pool:
    """Each direction of the set becomes (<2tgt> source </s>, <s> target </s>) pairs."""
    ids = {lang: tokenizer.encode_batch([ex[lang] for ex in examples]) for lang in spec.languages}
    pool = Pool(spec.name, [], [], spec.weight)
    for direction in spec.directions:
        source, target = parse_direction(direction)
        tag = tokenizer.token_id(language_token(target))
        for src, tgt in zip(ids[source], ids[target]):
            if len(src) + 2 <= max_length and len(tgt) + 2 <= max_length:
                pool.sources.append([tag] + src + [tokenizer.eos_id])
                pool.targets.append([tokenizer.bos_id] + tgt + [tokenizer.eos_id])
    return pool


def encode_summaries(spec, examples, tokenizer, max_length: int, model_config=None) -> Pool:
    """(<summarize> document </s>, <s> summary </s>); documents are cut to
    ``max_length`` (their beginning carries most of the summary), summaries kept whole or skipped."""
    tag = tokenizer.token_id(TASK_TOKENS["summarize"])
    documents = tokenizer.encode_batch([ex["source"] for ex in examples])
    summaries = tokenizer.encode_batch([ex["target"] for ex in examples])
    pool = Pool(spec.name, [], [], spec.weight)
    for document, summary in zip(documents, summaries):
        if len(summary) + 2 <= max_length:
            pool.sources.append([tag] + document[: max_length - 2] + [tokenizer.eos_id])
            pool.targets.append([tokenizer.bos_id] + summary + [tokenizer.eos_id])
    return pool


def encode_sentiment(spec, examples, tokenizer, max_length: int, model_config=None) -> Pool:
    tag = tokenizer.token_id(TASK_TOKENS["classify-sentiment"])
    texts = tokenizer.encode_batch([ex["text"] for ex in examples])
    pool = Pool(spec.name, [], [], spec.weight)
    for text, example in zip(texts, examples):
        if text:
            pool.sources.append([tag] + text[: max_length - 2] + [tokenizer.eos_id])
            pool.targets.append([example["label"]])
    return pool


def encode_entities(spec, examples, tokenizer, max_length: int, model_config=None) -> Pool:
    """Each word's tag sits on its first piece; other positions are ignored. For
    a word_shapes model the word's shape id rides along in the same number,
    tag + len(ENTITY_TAGS) * shape (split_entity_target), so batches keep one
    target tensor of the source's length."""
    from nlpcli.entities import encode_words, word_shape_ids

    with_shapes = model_config is not None and model_config.word_shapes
    tag_ids = {tag: i for i, tag in enumerate(ENTITY_TAGS)}
    pool = Pool(spec.name, [], [], spec.weight)
    for example in examples:
        ids, firsts = encode_words(tokenizer, example["tokens"], max_length)
        shapes = word_shape_ids(example["tokens"], firsts, len(ids)) if with_shapes else [0] * len(ids)
        labels = [IGNORE] * len(ids)
        for position, tag in zip(firsts, example["tags"]):
            if position >= 0:
                labels[position] = tag_ids[tag] + len(ENTITY_TAGS) * shapes[position]
        pool.sources.append(ids)
        pool.targets.append(labels)
    return pool


def split_entity_target(tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(tags, word shape ids) of an encode_entities target batch."""
    is_word = tgt.ne(IGNORE)
    tags = torch.where(is_word, tgt % len(ENTITY_TAGS), IGNORE)
    return tags, torch.where(is_word, tgt // len(ENTITY_TAGS), 0)


def encode_answers(spec, examples, tokenizer, max_length: int, model_config=None) -> Pool:
    """Every window that holds the whole gold answer becomes (ids, [start, end]).
    The other windows are left out, or, with answer_no_answer_windows, point
    start and end at position 0 (the task token: "no answer here", as BERT does;
    inference never answers there), so that window scores become comparable. A
    question_match model's targets carry the window's question-match flags, one
    per source position, after [start, end]."""
    from nlpcli.answer import encode_windows, piece_range

    no_answer = model_config is not None and model_config.answer_no_answer_windows
    with_matches = model_config is not None and model_config.question_match
    pool = Pool(spec.name, [], [], spec.weight)
    for example in examples:
        start = example["answer_start"]
        end = start + len(example["answer"])
        for window in encode_windows(tokenizer, example["question"], example["context"], max_length, max_length // 2):
            found = piece_range(window.spans, start, end)
            if found:
                target = [window.context_start + found[0], window.context_start + found[1]]
            elif no_answer:
                target = [0, 0]
            else:
                continue
            pool.sources.append(window.ids)
            pool.targets.append(target + (window.question_match if with_matches else []))
    return pool


# each takes (spec, examples, tokenizer, max_length, model_config): the model's
# opt-in word features decide what the answer and entity targets carry
ENCODERS = {
    "translate": encode_translation,
    "summarize": encode_summaries,
    "classify-sentiment": encode_sentiment,
    "tag-entities": encode_entities,
    "answer": encode_answers,
}


def collate(pools: list[Pool], batch: list[tuple[int, int]], pad_id: int, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    sources = pad([pools[p].sources[i] for p, i in batch], pad_id)
    targets = [pools[p].targets[i] for p, i in batch]
    target_pad = {"translate": pad_id, "summarize": pad_id, "tag-entities": IGNORE}.get(task, 0)
    return sources, pad(targets, target_pad)


def prediction_count(task: str, tgt: torch.Tensor, pad_id: int) -> int:
    """How many predictions a batch's task_loss sums over."""
    if task in ("translate", "summarize"):
        return int(tgt[:, 1:].ne(pad_id).sum())
    if task == "tag-entities":
        return int(tgt.ne(IGNORE).sum())
    return tgt.size(0)


def task_loss(model, task: str, src: torch.Tensor, tgt: torch.Tensor, pad_id: int, label_smoothing: float) -> torch.Tensor:
    """Loss summed over the batch's predictions (prediction_count of them)."""
    if task == "summarize" and model.config.copy_attention:
        return copy_loss(model, src, tgt, pad_id, label_smoothing)
    if task in ("translate", "summarize"):
        logits = model(src, tgt[:, :-1])
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1),
                               ignore_index=pad_id, label_smoothing=label_smoothing, reduction="sum")
    scores, gold = encoder_task_scores(model, task, src, tgt)
    if task == "tag-entities" and model.config.entity_crf:
        return entity_crf_loss(scores, gold, model.entity_transitions)
    loss = F.cross_entropy(scores.float().reshape(-1, scores.size(-1)), gold.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return loss / 2 if task == "answer" else loss  # an answer is one prediction of two boundaries


def encoder_task_scores(model, task: str, src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and gold classes of a batch of a task read off the encoder:
    sentiment (batch, labels) and (batch,); entities (batch, src_len, tags) and
    (batch, src_len), IGNORE off words' first pieces; answers (batch, 2, src_len),
    the start and the end scores, and (batch, 2), the gold start and end."""
    if task == "classify-sentiment":
        logits, _ = model.sentiment_logits(src)
        return logits, tgt[:, 0]
    if task == "tag-entities":
        tags, shapes = split_entity_target(tgt)
        return model.entity_logits(src, shapes), tags
    question_match = tgt[:, 2:] if model.config.question_match else None
    start_logits, end_logits = model.span_logits(src, question_match, starts=tgt[:, 0])
    return torch.stack([start_logits, end_logits], dim=1), tgt[:, :2]


def copy_loss(model, src: torch.Tensor, tgt: torch.Tensor, pad_id: int, label_smoothing: float) -> torch.Tensor:
    """Negative log-likelihood of the pointer-generator mixture. Label smoothing
    (what cross_entropy does: (1 - e) NLL + e mean of -log p) smooths the
    vocabulary distribution only: smoothing the mixture would ask mass of every
    token the source does not hold, which only the vocabulary side can give, and so
    would push the gate away from copying."""
    log_probs, vocab_logits = model.copy_log_probs(src, tgt[:, :-1])
    gold = tgt[:, 1:]
    nll = -log_probs.gather(-1, gold[..., None]).squeeze(-1)
    smoothing = -F.log_softmax(vocab_logits.float(), dim=-1).mean(dim=-1)
    loss = (1 - label_smoothing) * nll + label_smoothing * smoothing
    return loss[gold.ne(pad_id)].sum()


def entity_crf_loss(logits: torch.Tensor, tgt: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
    """CRF negative log-likelihood of the gold tags of each sentence's words
    (their first pieces), over the log-softmax scores that decoding uses too."""
    from nlpcli.crf import sequence_nll

    is_word = tgt.ne(IGNORE)
    if not is_word.any():  # every word cut off by max_length: nothing to learn from
        return logits.sum() * 0.0
    # each row's word positions first, in order (a stable sort of "not a word")
    positions = torch.sort((~is_word).int(), dim=1, stable=True).indices
    positions = positions[:, : int(is_word.sum(1).max())]
    words = is_word.gather(1, positions)
    emissions = logits.float().log_softmax(-1).gather(1, positions[..., None].expand(-1, -1, logits.size(-1)))
    has_words = words[:, 0]
    return sequence_nll(emissions[has_words], tgt.gather(1, positions)[has_words], words[has_words], transitions).sum()


class TaskLoss(nn.Module):
    """The model with the task losses as its forward(), so that
    DistributedDataParallel sees (and synchronises) every task's computation."""

    def __init__(self, model, pad_id: int, label_smoothing: float) -> None:
        super().__init__()
        self.model, self.pad_id, self.label_smoothing = model, pad_id, label_smoothing

    def forward(self, task: str, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return task_loss(self.model, task, src, tgt, self.pad_id, self.label_smoothing)
