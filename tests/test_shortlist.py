"""The vocabulary shortlist: built from sentence pairs, used by decoding and by
`nlpcli translate` where the checkpoint has one."""
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import write_toy_recipe
from nlpcli.decoding import Constraints, beam_search, greedy_search
from nlpcli.errors import CheckpointError
from nlpcli.shortlist import SHORTLIST_FILE, VocabularyShortlist, build_shortlist
from nlpcli.tokenizer import BOS_ID, EOS_ID, PAD_ID
from test_cli import ENV, lines, nlpcli

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def test_dice_ranks_the_aligned_piece_above_the_everywhere_piece():
    # 5 -> 7 always; 3 is in every target, so p(3 | 5) = p(7 | 5) = 1, but only 7 is specific to 5
    pairs = [([5, 9], [7, 3])] * 4 + [([6, 9], [8, 3])] * 4 + [([9], [3, 2])] * 8
    shortlist = build_shortlist(pairs, vocab_size=12, per_source=1, frequent=1, always=[1])
    assert shortlist.candidates[5].tolist() == [7]
    assert shortlist.candidates[6].tolist() == [8]
    assert shortlist.candidates[9].tolist() == [3]
    assert shortlist.candidates[4].tolist() == [-1]  # never seen: no candidates
    assert shortlist.frequent.tolist() == [1, 3]


def test_a_batch_gets_the_sorted_union_of_its_pieces_candidates_and_the_frequent_list():
    candidates = torch.full((10, 2), -1)
    candidates[4] = torch.tensor([8, 6])
    candidates[5] = torch.tensor([6, -1])
    shortlist = VocabularyShortlist(torch.tensor([2, 1]), candidates)
    assert shortlist.for_sources(torch.tensor([[4, 5], [5, 0]])).tolist() == [1, 2, 6, 8]


def test_a_shortlist_scores_its_pieces_normalised_among_themselves(tiny_model):
    src = torch.tensor([[5, 6, 7, EOS_ID]])
    memory, padding_mask, _ = tiny_model.encoder(src)
    ids = torch.tensor([2, 9, 11, 30])
    with torch.no_grad():
        full = tiny_model.next_token_log_probs(torch.tensor([[BOS_ID]]), memory, padding_mask, tiny_model.decoder.new_cache(memory), 0)
        short = tiny_model.next_token_log_probs(torch.tensor([[BOS_ID]]), memory, padding_mask, tiny_model.decoder.new_cache(memory), 0,
                                                output_rows=tiny_model.shared.weight[ids])
    assert short.shape == (1, 4)  # column i scores ids[i]
    assert torch.allclose(short[0], F.log_softmax(full[0, ids], dim=-1), atol=1e-5)


def test_a_shortlist_of_every_piece_decodes_as_the_whole_vocabulary(tiny_model):
    everything = VocabularyShortlist(torch.arange(50), torch.full((50, 1), -1))
    src = torch.tensor([[5, 6, 7, EOS_ID], [8, 9, EOS_ID, PAD_ID]])
    plain, listed = greedy_search(tiny_model, src, [BOS_ID], EOS_ID, 12), greedy_search(tiny_model, src, [BOS_ID], EOS_ID, 12, shortlist=everything)
    assert [h.tokens for h in plain] == [h.tokens for h in listed]
    plain, listed = beam_search(tiny_model, src, [BOS_ID], EOS_ID, 12, n_best=2), beam_search(tiny_model, src, [BOS_ID], EOS_ID, 12, n_best=2,
                                                                                       shortlist=everything)
    assert [[h.tokens for h in n] for n in plain] == [[h.tokens for h in n] for n in listed]
    assert [[round(h.score, 4) for h in n] for n in plain] == [[round(h.score, 4) for h in n] for n in listed]


def test_decoding_writes_only_shortlisted_pieces(tiny_model):
    candidates = torch.full((50, 2), -1)
    candidates[5] = torch.tensor([20, 21])
    shortlist = VocabularyShortlist(torch.tensor([EOS_ID]), candidates)  # </s>, and what piece 5 allows
    allowed = {EOS_ID, 20, 21}
    src = torch.tensor([[5, 6, EOS_ID]])
    for nbest in beam_search(tiny_model, src, [BOS_ID], EOS_ID, 10, n_best=3, shortlist=shortlist):
        assert len(nbest) == 3 and all(set(h.tokens) <= allowed for h in nbest)
    [best] = greedy_search(tiny_model, src, [BOS_ID], EOS_ID, 10, shortlist=shortlist)
    assert set(best.tokens) <= allowed


def test_copying_or_constraints_and_a_shortlist_are_refused_together(tiny_model):
    shortlist = VocabularyShortlist(torch.arange(50), torch.full((50, 1), -1))
    src = torch.tensor([[5, EOS_ID]])
    with pytest.raises(ValueError, match="shortlist"):
        greedy_search(tiny_model, src, [BOS_ID], EOS_ID, 5, copy_source=True, shortlist=shortlist)
    with pytest.raises(ValueError, match="shortlist"):
        beam_search(tiny_model, src, [BOS_ID], EOS_ID, 5, constraints=Constraints(min_len=2), shortlist=shortlist)


def test_a_shortlist_that_does_not_fit_the_model_is_refused_in_one_line(tmp_path):
    assert VocabularyShortlist.load(tmp_path, 50) is None  # none: the whole vocabulary
    VocabularyShortlist(torch.tensor([EOS_ID]), torch.full((40, 3), -1)).save(tmp_path)
    assert VocabularyShortlist.load(tmp_path, 40).candidates.shape == (40, 3)
    with pytest.raises(CheckpointError, match="vocabulary of 50"):
        VocabularyShortlist.load(tmp_path, 50)
    VocabularyShortlist(torch.tensor([EOS_ID, 40]), torch.full((40, 3), -1)).save(tmp_path)  # piece 40 of 0..39
    with pytest.raises(CheckpointError, match="vocabulary of 40"):
        VocabularyShortlist.load(tmp_path, 40)
    (tmp_path / SHORTLIST_FILE).write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="unreadable"):
        VocabularyShortlist.load(tmp_path, 40)


def test_a_shortlist_is_stored_in_the_smallest_integer_type_and_loads_the_same(tmp_path):
    from safetensors.torch import load_file

    for largest, stored in ((32767, torch.int16), (32768, torch.int32)):  # a 16,000-piece vocabulary's ids fit int16
        candidates = torch.full((largest + 1, 2), -1)
        candidates[3], candidates[largest] = torch.tensor([largest, -1]), torch.tensor([3, 0])
        VocabularyShortlist(torch.tensor([EOS_ID, largest]), candidates).save(tmp_path)
        assert {t.dtype for t in load_file(str(tmp_path / SHORTLIST_FILE)).values()} == {stored}
        loaded = VocabularyShortlist.load(tmp_path, largest + 1)
        assert loaded.candidates.dtype == torch.long and loaded.candidates.tolist() == candidates.tolist()
        assert loaded.frequent.tolist() == [EOS_ID, largest]


def test_the_recipe_script_builds_a_shortlist_that_translate_uses(toy_checkpoint, toy_data, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(toy_checkpoint, checkpoint)
    built = subprocess.run([sys.executable, RECIPES / "shortlist.py", "--data", toy_data, "--recipe",
                            write_toy_recipe(tmp_path, steps=1), "--checkpoint", checkpoint],
                           capture_output=True, text=True, env=ENV, timeout=300)
    assert built.returncode == 0, built.stderr
    assert (checkpoint / SHORTLIST_FILE).stat().st_mode & stat.S_IROTH  # readable as the other files
    text = "a man runs\nthe big dog sees a ball\n"
    listed, plain = nlpcli("translate", "-c", checkpoint, stdin=text), nlpcli("translate", "-c", toy_checkpoint, stdin=text)
    assert listed.returncode == 0, listed.stderr
    assert lines(listed) == lines(plain) == ["ein mann rennt", "der gross hund sieht ein ball"]
    assert "shortlist    translation scores" in nlpcli("info", "-c", checkpoint).stdout.decode()
    assert "shortlist" not in nlpcli("info", "-c", toy_checkpoint).stdout.decode()

    # a shortlist that allows only </s> shows that translate uses it, and --no-shortlist that it can be left out
    VocabularyShortlist(torch.tensor([EOS_ID]), torch.full((len(load_vocabulary(checkpoint)), 1), -1)).save(checkpoint)
    assert lines(nlpcli("translate", "-c", checkpoint, stdin=text)) == ["", ""]
    assert lines(nlpcli("translate", "-c", checkpoint, "--no-shortlist", stdin=text)) == lines(plain)


def load_vocabulary(checkpoint):
    from nlpcli.tokenizer import Tokenizer

    return Tokenizer.load(checkpoint / "tokenizer.model")
