"""Attention made visible: maps, alignments, heatmaps in the terminal and in files."""
import json

import pytest
import torch

from nlpcli.attention_maps import AttentionMap, alignments, cross_attention, word_groups
from nlpcli.heatmap import AttentionReporter, render_text
from nlpcli.tasks import TASKS
from test_cli import lines, nlpcli, run_in_process


@pytest.fixture(scope="module")
def toy(toy_checkpoint):
    from nlpcli.checkpoint import load_checkpoint

    return load_checkpoint(toy_checkpoint)


def toy_cross_attention(toy, text="a man runs"):
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks.translate import Translator

    translator = Translator(toy.model, toy.tokenizer)
    [[best]], _ = translator.translate([text], "de", GenerationSettings(beam=1))
    return translator.attention(text, "de", best)


def test_weights_are_distributions_over_the_source(toy):
    attention = toy_cross_attention(toy)
    layers, heads = toy.model.config.decoder_layers, toy.model.config.n_heads
    assert attention.weights.shape[:2] == (layers, heads)
    assert torch.allclose(attention.weights.sum(-1), torch.ones(attention.weights.shape[:3]), atol=1e-5)
    assert attention.rows[-1] == "</s>" and attention.columns[0] == "<2de>"
    words = attention.words()
    assert torch.allclose(words.weights.sum(-1), torch.ones(words.weights.shape[:3]), atol=1e-5)
    assert words.columns == ["<2de>", "a", "man", "runs", "</s>"]


def test_a_word_by_word_language_gives_a_diagonal_alignment(toy):
    """The toy language translates word for word, in order: its alignment is the diagonal."""
    attention = toy_cross_attention(toy, "the big dog sees a ball")
    assert alignments(attention) == [(i, i) for i in range(6)]


def test_cross_attention_ignores_padding_and_is_the_same_alone_or_in_a_batch(toy):
    ids = TASKS["translate"].encode(toy.tokenizer, "a dog", 64, "<2de>")[0]
    out = toy.tokenizer.encode("ein hund") + [toy.tokenizer.eos_id]
    alone = cross_attention(toy.model, toy.tokenizer, ids, out)
    assert alone.weights.shape[-2:] == (len(out), len(ids))
    # the same lines, of different lengths, run as one padded batch of 4: each line's map is its map alone,
    # and the padding after a short line gets no weight
    from nlpcli.batching import pad

    tok = toy.tokenizer
    pairs = [("a dog", "ein hund"), ("the big red dog sees a small cat in the park", "der gross rot hund sieht ein klein katze im der park"),
             ("cat", "katze"), ("a man runs", "ein mann rennt")]
    sources = [TASKS["translate"].encode(tok, s, 64, "<2de>")[0] for s, _ in pairs]
    outputs = [tok.encode(t) + [tok.eos_id] for _, t in pairs]
    with torch.inference_mode():
        memory, padding_mask, _ = toy.model.encoder(pad(sources, tok.pad_id))
        _, weights = toy.model.decoder(pad([[tok.bos_id] + o[:-1] for o in outputs], tok.pad_id), memory, padding_mask,
                                       need_weights=True)
    batched = torch.stack([w.float() for w in weights["cross"]])  # (layers, batch, heads, rows, columns)
    assert len({len(s) for s in sources}) == 4 and sources[0] == ids and outputs[0] == out
    for row, (source, output) in enumerate(zip(sources, outputs)):
        mine = batched[:, row, :, : len(output)]
        assert mine[..., len(source):].abs().sum() == 0  # (nothing to check for the longest line)
        single = cross_attention(toy.model, tok, source, output).weights
        torch.testing.assert_close(mine[..., : len(source)], single, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batched[:, 0, :, : len(out), : len(ids)], alone.weights, atol=1e-5, rtol=1e-4)


def test_attention_maps_are_the_same_at_batch_sizes_1_and_4(toy_checkpoint, tmp_path):
    text = "a dog\nthe big red dog sees a small cat in the park\n\ncat\na man runs\n"
    maps = {}
    for size in (1, 4):
        code, _, error = run_in_process("translate", "-c", toy_checkpoint, "--batch-size", size,
                                        "--attention-out", tmp_path / f"{size}.json", stdin=text)
        assert code == 0, error
        maps[size] = json.loads((tmp_path / f"{size}.json").read_text())
    assert [m["record"] for m in maps[1]] == [1, 2, 4, 5]  # the blank line has no map
    for one, four in zip(maps[1], maps[4], strict=True):
        assert {k: v for k, v in one.items() if k != "weights"} == {k: v for k, v in four.items() if k != "weights"}
        assert one["kind"] == "cross-attention" and one["rows"][-1] == "</s>" and one["columns"][0] == "<2de>"
        torch.testing.assert_close(torch.tensor(one["weights"]), torch.tensor(four["weights"]), atol=2e-5, rtol=0)


def test_word_groups_merge_pieces_and_keep_special_tokens_apart():
    labels, groups = word_groups(["<2de>", "▁", "J", "o", "▁new", "s", "</s>"])
    assert labels == ["<2de>", "Jo", "news", "</s>"] and groups == [[0], [1, 2, 3], [4, 5], [6]]


def test_selection_of_layers_and_heads():
    weights = torch.rand(3, 2, 4, 5).softmax(-1)
    attention = AttentionMap("x", list("abcd"), list("vwxyz"), weights)
    assert [t for t, _ in attention.select("all", "mean")] == [f"x, layer {i}, mean of 2 heads" for i in range(3)]
    [(_, last)] = attention.select("last", "1")
    assert torch.equal(last, weights[2, 1])
    [(_, mean)] = attention.select("mean", "mean")
    assert torch.allclose(mean, weights.mean(dim=(0, 1)))
    from nlpcli.errors import InputError
    with pytest.raises(InputError, match="heads 0 to 1"):
        attention.select("last", "7")


@pytest.mark.parametrize("n_rows, n_columns", [(1, 1), (3, 150), (0, 4), (2, 0)])
def test_terminal_heatmap_fits_80_columns_and_folds_long_inputs(n_rows, n_columns):
    matrix = torch.rand(n_rows, n_columns)
    text = [line for line, _ in render_text("t", matrix, [f"r{i}" for i in range(n_rows)], [f"c{i}" for i in range(n_columns)])]
    assert all(len(line) <= 80 for line in text)
    if n_rows and n_columns:
        heat_lines = [line for line in text if line.strip().startswith("r0")]
        assert len(heat_lines) == -(-n_columns // 32)  # folded into panels of 32 columns
        assert f"{n_columns - 1}:c{n_columns - 1}" in "\n".join(text)
    else:
        assert text == ["t: (no tokens)"]


def test_attention_files_parse_back(tmp_path):
    weights = torch.rand(2, 2, 2, 3).softmax(-1)
    attention = AttentionMap("cross-attention", ["ein", "</s>"], ["<2de>", "a", "</s>"], weights)
    with AttentionReporter(out=str(tmp_path / "all.json")) as reporter:
        reporter.report(1, "a", attention)
        reporter.report(2, "b", None)
        reporter.report(3, "c", attention)
    records = json.loads((tmp_path / "all.json").read_text())
    assert [r["record"] for r in records] == [1, 3]
    assert records[0]["layers"] == 2 and records[0]["heads"] == 2 and records[0]["columns"] == ["<2de>", "a", "</s>"]
    assert records[0]["kind"] == "cross-attention" and records[0]["rows"] == ["ein", "</s>"]
    assert torch.allclose(torch.tensor(records[0]["weights"]), weights, atol=1e-4)
    with AttentionReporter(out=str(tmp_path / "r{i}.html")) as reporter:
        reporter.report(7, "a", attention)
    page = (tmp_path / "r7.html").read_text()
    assert page.startswith("<!doctype html>") and 'title="ein → a: ' in page and "http" not in page
    pytest.importorskip("matplotlib")
    with AttentionReporter(out=str(tmp_path / "map.png")) as reporter:
        reporter.report(1, "a", attention)
    assert (tmp_path / "map-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_asking_for_attention_does_not_change_the_output(toy_checkpoint, tmp_path):
    text = "a man runs\n\nthe cat sleeps\n"
    plain = nlpcli("translate", "-c", toy_checkpoint, stdin=text)
    shown = nlpcli("translate", "-c", toy_checkpoint, "--show-attention", "--words", "--layer", "all",
                   "--attention-out", tmp_path / "a.json", stdin=text)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == plain.stdout
    assert "cross-attention, layer 1, mean of 4 heads" in shown.stderr.decode()
    assert len(json.loads((tmp_path / "a.json").read_text())) == 2
    # one map per non-blank line, numbered by input line, over words (--words): output words x source words
    records = json.loads((tmp_path / "a.json").read_text())
    assert [r["record"] for r in records] == [1, 3] and {r["kind"] for r in records} == {"cross-attention"}
    assert [r["rows"] for r in records] == [["ein", "mann", "rennt", "</s>"], ["der", "katze", "schlaeft", "</s>"]]
    assert [r["columns"] for r in records] == [["<2de>", "a", "man", "runs", "</s>"], ["<2de>", "the", "cat", "sleeps", "</s>"]]
    assert all(r["layers"] == 2 and r["heads"] == 4 for r in records)
    aligned = nlpcli("translate", "-c", toy_checkpoint, "--alignments", stdin=text)
    assert lines(aligned) == ["ein mann rennt ||| 0-0 1-1 2-2", "", "der katze schlaeft ||| 0-0 1-1 2-2"]


def test_every_task_shows_its_attention(toy_tasks_checkpoint, tmp_path):
    cases = [
        ("summarize", ["a dog eats bread"], "cross-attention"),
        ("classify-sentiment", ["a dog is good"], "sentiment pooling attention"),
        ("tag-entities", ["John Smith runs in Paris"], "encoder self-attention"),
        ("answer", ["--context", "Anna lives in Rome . Anna works at Siemens .", "Where does Anna live ?"], "encoder self-attention"),
    ]
    for command, args, kind in cases:
        plain = nlpcli(command, "-c", toy_tasks_checkpoint, *args)
        shown = nlpcli(command, "-c", toy_tasks_checkpoint, "--show-attention", "--attention-out", tmp_path / f"{command}.html", *args)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == plain.stdout and kind in shown.stderr.decode(), command
        assert "<table>" in (tmp_path / f"{command}.html").read_text()
