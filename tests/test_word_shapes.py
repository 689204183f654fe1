"""tag-entities: a learned embedding of each word's shape at its first piece
(ModelConfig.word_shapes, off by default)."""
import pytest
import torch

from nlpcli.features import WORD_SHAPES, word_shape, word_shape_id
from nlpcli.model import ModelConfig, Seq2SeqTransformer
from nlpcli.tasks import ENTITY_TAGS
from nlpcli.tasks.entities import encode_words, word_shape_ids


@pytest.mark.parametrize("word, shape", [
    ("paris", "lower"), ("Paris", "title"), ("I", "title"), ("Élysée", "title"), ("NASA", "upper"), ("U.K.", "upper"),
    ("ＵＳＡ", "upper"), ("iPhone", "mixed"), ("McDonald", "mixed"), ("1876", "digit"), ("1,000", "digit"), ("$1", "digit"),
    ("3M", "alphanumeric"), ("2nd", "alphanumeric"), (",", "punctuation"), ("--", "punctuation"), ("$", "punctuation"),
    ("東京", "other"), ("", "other"), ("α", "lower"), ("Ωmega", "title"),
])
def test_word_shapes(word, shape):
    assert word_shape(word) == shape
    assert word_shape_id(word) == 1 + WORD_SHAPES.index(shape)  # 0 is kept for "no word starts here"


@pytest.fixture(scope="module")
def tokenizer():
    from nlpcli.tokenizer import Tokenizer

    return Tokenizer.load("checkpoints/nlpcli-base/tokenizer.model")


def test_shape_ids_sit_at_each_words_first_piece(tokenizer):
    words = ["Tim", "Cook", "visited", "CUPERTINO", "in", "2024", "."]
    ids, firsts = encode_words(tokenizer, words, 64)
    shapes = word_shape_ids(words, firsts, len(ids))
    assert [shapes[p] for p in firsts] == [word_shape_id(w) for w in words]
    assert sum(1 for s in shapes if s) == len(words)  # every other piece (and the task token, </s>) has 0


def shape_model(word_shapes: bool) -> Seq2SeqTransformer:
    torch.manual_seed(0)
    return Seq2SeqTransformer(ModelConfig(vocab_size=60, d_model=32, n_heads=4, ffn_dim=64, encoder_layers=2,
                                          decoder_layers=1, dropout=0.0, max_positions=64, entity_tags=len(ENTITY_TAGS),
                                          entity_crf=True, word_shapes=word_shapes)).eval()


def test_switching_word_shapes_on_starts_as_a_no_op_and_then_reads_them():
    plain, shaped = shape_model(False), shape_model(True)
    shaped.load_state_dict(plain.state_dict(), strict=False)
    src = torch.randint(4, 60, (2, 10))
    shapes = torch.randint(0, len(WORD_SHAPES) + 1, (2, 10))
    with torch.no_grad():
        torch.testing.assert_close(shaped.entity_logits(src, shapes), plain.entity_logits(src))
        shaped.word_shape_embedding.weight[1:].normal_()
        assert not torch.allclose(shaped.entity_logits(src, shapes), plain.entity_logits(src))
        torch.testing.assert_close(shaped.entity_logits(src, torch.zeros_like(shapes)), plain.entity_logits(src))


def test_entity_targets_carry_the_shapes_and_the_loss_trains_them(tokenizer):
    from nlpcli.tasks import TASKS
    from nlpcli.tasks.entities import split_entity_target
    from nlpcli.training.objectives import collate, task_loss

    encode_entities = TASKS["tag-entities"].pool

    spec = type("Spec", (), {"name": "s", "weight": 1.0})()
    examples = [{"tokens": ["Tim", "Cook", "visited", "NASA", "."], "tags": ["B-PER", "I-PER", "O", "B-ORG", "O"]}]
    plain = encode_entities(spec, examples, tokenizer, 64)
    config = ModelConfig(vocab_size=len(tokenizer), d_model=32, n_heads=4, ffn_dim=64, encoder_layers=1, decoder_layers=1,
                         max_positions=64, entity_tags=len(ENTITY_TAGS), word_shapes=True)
    shaped = encode_entities(spec, examples, tokenizer, 64, config)
    src, tgt = collate([shaped], [(0, 0)], tokenizer.pad_id, "tag-entities")
    tags, shapes = split_entity_target(tgt)
    assert tags[0].tolist() == plain.targets[0]  # the tags are today's
    _, firsts = encode_words(tokenizer, examples[0]["tokens"], 64)
    assert shapes[0].tolist() == word_shape_ids(examples[0]["tokens"], firsts, tgt.size(1))
    torch.manual_seed(0)
    model = Seq2SeqTransformer(config)
    task_loss(model, "tag-entities", src, tgt, tokenizer.pad_id, 0.0).backward()
    grad = model.word_shape_embedding.weight.grad
    assert grad[word_shape_id("NASA")].abs().sum() > 0 and grad[0].abs().sum() == 0
