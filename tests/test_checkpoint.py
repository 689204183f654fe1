import json

import pytest
import torch

from nlpcli.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint
from nlpcli.errors import CheckpointError
from nlpcli.tokenizer import Tokenizer


@pytest.fixture
def saved(tmp_path, tiny_model):
    tokenizer = Tokenizer.train(["a b c d e f g h"] * 20, vocab_size=300)
    tiny_model.config.vocab_size = len(tokenizer)
    from nlpcli.model import Seq2SeqTransformer

    torch.manual_seed(0)
    model = Seq2SeqTransformer(tiny_model.config).eval()
    info = CheckpointInfo(tasks={"translate": {"directions": ["en-de"]}}, dtype="float32")
    save_checkpoint(tmp_path / "ckpt", model, tokenizer, info)
    return tmp_path / "ckpt", model


def test_round_trip_gives_the_same_outputs(saved):
    folder, model = saved
    loaded = load_checkpoint(folder)
    src, tgt = torch.randint(4, 40, (2, 6)), torch.randint(4, 40, (2, 5))
    torch.testing.assert_close(loaded.model(src, tgt), model(src, tgt))
    assert loaded.info.tasks == {"translate": {"directions": ["en-de"]}}
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "tokenizer.model"]


def test_missing_folder_and_missing_file_are_refused(saved, tmp_path):
    folder, _ = saved
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")
    (folder / "tokenizer.model").unlink()
    with pytest.raises(CheckpointError, match="missing tokenizer.model"):
        load_checkpoint(folder)


def test_truncated_weights_are_refused(saved):
    folder, _ = saved
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        load_checkpoint(folder)


def test_unknown_format_version_is_refused(saved):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(folder)


def test_shapes_that_disagree_with_the_config_are_refused(saved):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    config["model"]["ffn_dim"] = 96
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="fc1.weight has shape"):
        load_checkpoint(folder)


def test_saving_over_a_checkpoint_replaces_it_whole(saved):
    folder, model = saved
    loaded = load_checkpoint(folder)
    save_checkpoint(folder, model, loaded.tokenizer, CheckpointInfo(tasks={"x": {}}, dtype="float16"))
    assert load_checkpoint(folder).info.tasks == {"x": {}}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]
