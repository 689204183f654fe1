"""Our core is numerically the same model as Hugging Face's M2M100."""
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from nlpcli.checkpoint import load_checkpoint  # noqa: E402
from nlpcli.convert import export_hf  # noqa: E402
from nlpcli.decoding import greedy_search  # noqa: E402


@pytest.fixture(scope="module")
def exported(toy_checkpoint, tmp_path_factory):
    out = export_hf(toy_checkpoint, tmp_path_factory.mktemp("hf") / "model")
    model, loading = transformers.M2M100ForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    return out, model.eval(), loading


def test_export_loads_without_missing_or_unexpected_weights(exported):
    out, _, loading = exported
    assert not loading["missing_keys"] and not loading["unexpected_keys"] and not loading["mismatched_keys"]
    assert json.loads((out / "config.json").read_text())["model_type"] == "m2m_100"
    assert (out / "sentencepiece.model").exists()


def test_same_logits_and_greedy_output_as_transformers(exported, toy_checkpoint):
    _, hf, _ = exported
    loaded = load_checkpoint(toy_checkpoint)
    tok = loaded.tokenizer
    sources = ["a man runs", "the big dog sees a ball"]
    ids = [[tok.token_id("<2de>")] + tok.encode(s) + [tok.eos_id] for s in sources]
    src = torch.full((2, max(map(len, ids))), tok.pad_id)
    for row, seq in enumerate(ids):
        src[row, : len(seq)] = torch.tensor(seq)
    tgt = torch.tensor([[tok.bos_id] + tok.encode("ein mann rennt")] * 2)
    with torch.no_grad():
        ours = loaded.model(src, tgt)
        theirs = hf(input_ids=src, attention_mask=src.ne(tok.pad_id).long(), decoder_input_ids=tgt).logits
    assert (ours - theirs).abs().max() <= 1e-4

    ours_greedy = greedy_search(loaded.model, src, [tok.bos_id], tok.eos_id, max_len=20)
    theirs_greedy = hf.generate(input_ids=src, attention_mask=src.ne(tok.pad_id).long(), num_beams=1,
                                do_sample=False, max_new_tokens=20)
    for row, hyp in enumerate(ours_greedy):
        generated = [t for t in theirs_greedy[row, 1:].tolist() if t != tok.pad_id]
        assert hyp.tokens == generated
    assert tok.decode(ours_greedy[1].tokens) == "der gross hund sieht ein ball"


def test_a_multi_task_checkpoint_exports_its_encoder_decoder(toy_tasks_checkpoint, tmp_path):
    out = export_hf(toy_tasks_checkpoint, tmp_path / "model")
    _, loading = transformers.M2M100ForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    assert not loading["missing_keys"] and not loading["unexpected_keys"] and not loading["mismatched_keys"]


def test_same_beam_4_output_as_transformers_generate(exported, toy_checkpoint):
    import random

    from nlpcli.batching import pad
    from nlpcli.decoding import beam_search

    _, hf, _ = exported
    loaded = load_checkpoint(toy_checkpoint)
    tok = loaded.tokenizer
    rng = random.Random(0)
    words = "a man woman dog cat runs sleeps big small red house in the park eats bread and sees ball".split()
    sources = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 9))) for _ in range(24)]
    src = pad([[tok.token_id("<2de>")] + tok.encode(s) + [tok.eos_id] for s in sources], tok.pad_id)
    ours = beam_search(loaded.model, src, [tok.bos_id], tok.eos_id, max_len=20, beam_size=4)
    theirs = hf.generate(input_ids=src, attention_mask=src.ne(tok.pad_id).long(), num_beams=4, do_sample=False,
                         max_new_tokens=20, length_penalty=1.0, early_stopping=True)
    for row, hyps in enumerate(ours):
        assert hyps[0].tokens == [t for t in theirs[row, 1:].tolist() if t != tok.pad_id], sources[row]
