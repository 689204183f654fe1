import pytest

from nlpcli.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer

TEXTS = ["Ein Mann fährt Fahrrad.", "A man rides a bike.", "Zwei Hunde spielen im Schnee.", "Two dogs play in the snow."] * 50


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.train(TEXTS, vocab_size=320, special_tokens=["<2en>", "<2de>"])


def test_round_trip(tokenizer):
    for text in TEXTS[:4]:
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_reserved_ids_and_special_tokens(tokenizer):
    assert (tokenizer.bos_id, tokenizer.pad_id, tokenizer.eos_id, tokenizer.unk_id) == (BOS_ID, PAD_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert tokenizer.pieces([tokenizer.token_id("<2de>")]) == ["<2de>"]
    with pytest.raises(KeyError):
        tokenizer.token_id("<2xx>")


def test_unseen_characters_survive_through_byte_fallback(tokenizer):
    text = "Ωμέγα 漢字 🙂"
    ids = tokenizer.encode(text)
    assert UNK_ID not in ids
    assert tokenizer.decode(ids) == text


def test_saved_model_loads_identically(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "t.model")
    again = Tokenizer.load(tmp_path / "t.model")
    assert again.encode(TEXTS[0]) == tokenizer.encode(TEXTS[0])
    assert len(again) == len(tokenizer) <= 320
