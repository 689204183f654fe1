"""The four encoder/decoder tasks as library calls: encoders, BIO decoding,
answer windows, offsets, data readers and the multi-task training run."""
import json

import pytest
import torch

from nlpcli.crf import allowed_transitions, viterbi
from nlpcli.data.task_data import clean_text
from nlpcli.errors import InputError
from nlpcli.model import ModelConfig
from nlpcli.tasks import ENTITY_TAGS, TASK_TOKENS
from nlpcli.tasks.answer import QuestionAnswerer, encode_windows, piece_range, span_text
from nlpcli.tasks.entities import encode_words, split_words, tags_to_spans
from nlpcli.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    text = ["John Smith lives in Paris and works at Google .", "Zürich ist schön, ja — sehr.", "where does he live ?"] * 50
    return Tokenizer.train(text, 400, list(TASK_TOKENS.values()))


def test_offsets_point_at_the_text_also_for_multibyte_characters(tokenizer):
    text = "Zürich ist schön — 😀 ja"
    ids, spans = tokenizer.encode_with_offsets(text)
    assert len(ids) == len(spans)
    assert "".join(text[s:e] for s, e in spans) == text
    words = split_words(text)
    assert [text[s:e] for _, s, e in words] == [w for w, _, _ in words]
    assert [w for w, _, _ in words] == ["Zürich", "ist", "schön", "—", "😀", "ja"]


def test_words_follow_conll_tokenization():
    assert [w for w, _, _ in split_words("U.S. troops, Smith's ex-wife (in 1996).")] == [
        "U.S.", "troops", ",", "Smith's", "ex-wife", "(", "in", "1996", ")", "."]


def test_each_word_is_tagged_at_its_first_piece(tokenizer):
    words = ["John", "Smithsonian", "lives"]
    ids, firsts = encode_words(tokenizer, words, 64)
    assert ids[0] == tokenizer.token_id("<entities>") and ids[-1] == tokenizer.eos_id
    assert firsts[0] == 1 and firsts[1] < firsts[2]
    assert tokenizer.decode(ids[firsts[1]:firsts[2]]) == "Smithsonian"
    cut_ids, cut_firsts = encode_words(tokenizer, words * 20, 16)
    assert len(cut_ids) <= 16 and cut_firsts[-1] == -1


def test_viterbi_never_yields_invalid_bio():
    torch.manual_seed(0)
    allowed = allowed_transitions()
    for _ in range(50):
        log_probs = torch.randn(7, len(ENTITY_TAGS)).log_softmax(-1)
        path = viterbi(log_probs)
        assert not ENTITY_TAGS[path[0]].startswith("I-")
        assert all(allowed[a][b] for a, b in zip(path, path[1:]))
    # the best single tags would be O I-PER: the constraint turns it into O B-PER or O O
    log_probs = torch.full((2, len(ENTITY_TAGS)), -10.0)
    log_probs[0, ENTITY_TAGS.index("O")] = 0
    log_probs[1, ENTITY_TAGS.index("I-PER")] = 0
    log_probs[1, ENTITY_TAGS.index("B-PER")] = -1
    assert [ENTITY_TAGS[t] for t in viterbi(log_probs)] == ["O", "B-PER"]


def test_tags_to_spans():
    assert tags_to_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6)]


def test_windows_overlap_and_cover_the_context(tokenizer):
    context = " ".join(["Paris is big ."] * 40)
    windows = encode_windows(tokenizer, "where does he live ?", context, 48, 16)
    assert len(windows) > 2 and all(len(w.ids) <= 48 for w in windows)
    assert windows[-1].spans[-1][1] == len(context)
    second = windows[1]
    assert second.spans[0] == windows[0].spans[16]  # the second window starts `stride` pieces later


def test_piece_range_and_span_text_give_the_answer_back(tokenizer):
    context = "He lives in Zürich since 1990."
    _, spans = tokenizer.encode_with_offsets(context)
    start = context.index("Zürich")
    first, last = piece_range(spans, start, start + len("Zürich"))
    assert span_text(context, spans, first, last) == ("Zürich", start, start + 6)
    assert piece_range(spans[:2], start, start + 6) is None
    inside = next(i for i, (s, e) in enumerate(spans) if s <= start + 2 < e)  # a piece inside "Zürich" ...
    assert span_text(context, spans, inside, inside)[0] == "Zürich"  # ... gives the whole word


class PointAtPieces(torch.nn.Module):
    """A stand-in model whose best span is wherever the pieces ``target`` stand."""

    def __init__(self, target: list[int], max_positions: int = 48):
        super().__init__()
        self.target = target
        self.config = ModelConfig(max_positions=max_positions)

    def span_logits(self, src):
        start, end = torch.zeros(src.shape), torch.zeros(src.shape)
        n = len(self.target)
        for row, ids in enumerate(src.tolist()):
            for i in range(len(ids) - n + 1):
                if ids[i:i + n] == self.target:
                    start[row, i], end[row, i + n - 1] = 10, 10
        return start, end

    def span_pair_logits(self, src, question_match, max_tokens=0, question_mask=None):
        max_tokens = max_tokens or self.config.answer_max_tokens
        start, end = self.span_logits(src)
        ends = (torch.arange(src.size(1))[:, None] + torch.arange(max_tokens)).clamp(max=src.size(1) - 1)
        return start, end[:, ends]


def test_the_answer_in_a_later_window_is_found(tokenizer):
    filler = " ".join(["John is here ."] * 30)
    context = f"{filler} He works at Google now."
    answerer = QuestionAnswerer(PointAtPieces(tokenizer.encode("Google")), tokenizer, window_tokens=48, stride=16)
    assert len(encode_windows(tokenizer, "where ?", context, 48, 16)) > 3
    [answer] = answerer.answer([("where ?", context)])
    assert answer.text == "Google" and context[answer.start:answer.end] == "Google"
    assert answerer.answer([("", context), ("where ?", " ")]) == [None, None]


def test_imdb_html_breaks_are_removed():
    assert clean_text("Great.<br /><br />Really<br/>good\nfilm") == "Great. Really good film"


def test_task_readers_name_the_line_and_field(tmp_path):
    from nlpcli.training.recipe import DatasetSpec

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": 1}\n{"text": "no label"}\n')
    spec = DatasetSpec("s", "bad.jsonl", task="classify-sentiment", format="jsonl", fields=["text", "label"])
    with pytest.raises(InputError, match=r"bad.jsonl, line 2: field 'label'"):
        spec.load(tmp_path)
    tsv = tmp_path / "sst.tsv"
    tsv.write_text("sentence\tlabel\nit 's good \t1\nbad .\t0\n")
    spec = DatasetSpec("s", "sst.tsv", task="classify-sentiment", format="glue-tsv", fields=["sentence", "label"])
    assert [(e["text"], e["label"]) for e in spec.load(tmp_path)] == [("it 's good", 1), ("bad .", 0)]
    conll = tmp_path / "ner.txt"
    conll.write_text("John B-PER\nruns B-VERB\n")
    with pytest.raises(InputError, match="line 2: tag 'B-VERB'"):
        DatasetSpec("n", "ner.txt", task="tag-entities", format="conll").load(tmp_path)


def test_squad_dev_is_carved_by_article(tmp_path):
    from collections import Counter

    from nlpcli.training.recipe import DatasetSpec

    articles = [{"title": f"T{a}", "paragraphs": [{"context": "x y", "qas": [
        {"id": f"{a}-{q}", "question": "?", "answers": [{"text": "y", "answer_start": 2}]} for q in range(3)]}]}
        for a in range(60)]
    (tmp_path / "s.json").write_text(json.dumps({"data": articles}))
    train = DatasetSpec("s", "s.json", task="answer", format="squad", carve_percent=20).load(tmp_path)
    dev = DatasetSpec("s", "s.json", task="answer", format="squad", carve_percent=20, split="dev").load(tmp_path)
    assert len(train) + len(dev) == 180 and dev
    assert not {e["carve_key"] for e in train} & {e["carve_key"] for e in dev}
    # by article: each article's three questions all land on one side, and about a fifth of the articles in dev
    # (every context is the same text, so carving by context or by question would not split like this)
    article = {e["id"]: e["id"].split("-")[0] for e in train + dev}
    train_articles, dev_articles = Counter(article[e["id"]] for e in train), Counter(article[e["id"]] for e in dev)
    assert not set(train_articles) & set(dev_articles) and len(train_articles) + len(dev_articles) == 60
    assert set(train_articles.values()) == set(dev_articles.values()) == {3}
    assert 4 <= len(dev_articles) <= 24


def test_multi_task_checkpoint_serves_every_task(toy_tasks_checkpoint):
    from nlpcli.checkpoint import load_checkpoint

    loaded = load_checkpoint(toy_tasks_checkpoint)
    assert set(loaded.info.tasks) == {"translate", "summarize", "answer", "classify-sentiment", "tag-entities"}
    assert loaded.info.tasks["tag-entities"]["tags"] == list(ENTITY_TAGS)
    assert loaded.info.training["source_tokens_seen"]["answer"] > 0


def test_task_tokens_added_to_a_trained_tokenizer_keep_the_old_ids(tokenizer):
    grown = tokenizer.with_special_tokens(["<new-task>"])
    assert len(grown) == len(tokenizer) + 1 and grown.token_id("<new-task>") == len(tokenizer)
    assert grown.encode("John lives in Paris") == tokenizer.encode("John lives in Paris")


def test_an_entity_crf_stage_trains_the_entity_layers_and_nothing_else(toy_tasks_checkpoint, toy_data, tmp_path):
    from safetensors.torch import load_file

    from conftest import write_toy_tasks_recipe
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.info import describe
    from nlpcli.tasks.entities import EntityTagger
    from nlpcli.training.recipe import load_recipe
    from nlpcli.training.trainer import Trainer

    stage = [f"train.init_from='{toy_tasks_checkpoint}'", "model.entity_crf=true", 'train.trainable=["entity_"]',
             "mix.translate=0", "mix.summarize=0", "mix.answer=0", "mix.classify-sentiment=0",
             "train.lr=0.005", "train.warmup_steps=5", "train.eval_every=1000"]
    recipe = load_recipe(write_toy_tasks_recipe(tmp_path, steps=40), stage)
    staged = Trainer(recipe, toy_data, tmp_path / "run").train()

    before = load_file(str(toy_tasks_checkpoint / "model.safetensors"))
    after = load_file(str(staged / "model.safetensors"))
    assert set(after) - set(before) == {"entity_transitions"}
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"entity_head.weight", "entity_head.bias"}
    assert after["entity_transitions"].abs().max() > 0

    loaded = load_checkpoint(staged)
    assert set(loaded.info.tasks) == {"translate", "summarize", "answer", "classify-sentiment", "tag-entities"}
    assert loaded.model.config.entity_crf
    assert describe(staged)["parameters"] == loaded.model.num_parameters()
    allowed = allowed_transitions()
    tagged, _ = EntityTagger(loaded.model, loaded.tokenizer).tag_words([["John", "Smith", "lives", "in", "Paris"]])
    tags = [ENTITY_TAGS.index(tag) for tag, _ in tagged[0]]
    assert len(tags) == 5 and all(allowed[a][b] for a, b in zip(tags, tags[1:]))
