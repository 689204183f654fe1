"""Export a checkpoint as a Hugging Face ``M2M100ForConditionalGeneration`` folder.

Our parameter names are M2M100's without the ``model.`` prefix, so the mapping
is a rename; the tied output projection is written as ``lm_head.weight``.
Token ids are SentencePiece ids (<s>=0, <pad>=1, </s>=2, <unk>=3, then
``<2xx>`` language tokens), and decoding starts from <s>, so the exported
config sets ``decoder_start_token_id=0``. Inputs are ``<2tgt> source </s>``,
exactly as ``nlpcli translate`` builds them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from nlpcli import console
from nlpcli.checkpoint import TOKENIZER_FILE, TIED_WEIGHTS, load_checkpoint
from nlpcli.errors import InputError


def m2m100_config(config, tokenizer) -> dict:
    return {
        "architectures": ["M2M100ForConditionalGeneration"],
        "model_type": "m2m_100",
        "vocab_size": config.vocab_size,
        "d_model": config.d_model,
        "encoder_layers": config.encoder_layers,
        "decoder_layers": config.decoder_layers,
        "encoder_attention_heads": config.n_heads,
        "decoder_attention_heads": config.n_heads,
        "encoder_ffn_dim": config.ffn_dim,
        "decoder_ffn_dim": config.ffn_dim,
        "activation_function": "relu",
        "dropout": config.dropout,
        "attention_dropout": config.attention_dropout,
        "activation_dropout": config.activation_dropout,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "max_position_embeddings": config.max_positions,
        "scale_embedding": True,
        "init_std": 0.02,
        "use_cache": True,
        "is_encoder_decoder": True,
        "tie_word_embeddings": True,
        "pad_token_id": tokenizer.pad_id,
        "bos_token_id": tokenizer.bos_id,
        "eos_token_id": tokenizer.eos_id,
        "decoder_start_token_id": tokenizer.bos_id,
    }


def export_hf(checkpoint: Path | None, out_dir: Path) -> Path:
    """Write config.json, model.safetensors and the SentencePiece model to ``out_dir``."""
    from safetensors.torch import save_file

    loaded = load_checkpoint(checkpoint)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"output folder {out_dir} is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    # M2M100 is the encoder-decoder alone: the task output layers on the encoder
    # (sentiment, entities, answers) have no place in it and are left out
    tensors = {f"model.{name}": t.contiguous() for name, t in loaded.model.state_dict().items()
               if name not in TIED_WEIGHTS and name.split(".")[0] in ("shared", "encoder", "decoder")}
    if len(tensors) < len(loaded.model.state_dict()) - len(TIED_WEIGHTS):
        console.warn("the export holds the encoder-decoder only (translate, summarize); "
                     "the output layers of answer, classify-sentiment and tag-entities have no M2M100 counterpart")
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(m2m100_config(loaded.model.config, loaded.tokenizer), indent=2) + "\n")
    shutil.copyfile(loaded.path / TOKENIZER_FILE, out_dir / "sentencepiece.model")
    return out_dir
