"""Hugging Face ``M2M100ForConditionalGeneration`` folders, out and in.

Our parameter names are M2M100's without the ``model.`` prefix, so the mapping
is a rename; the tied output projection is ``lm_head.weight``.

Export: token ids are our SentencePiece ids (<s>=0, <pad>=1, </s>=2, <unk>=3,
then ``<2xx>`` language tokens), and decoding starts from <s>, so the exported
config sets ``decoder_start_token_id=0``. Inputs are ``<2tgt> source </s>``,
exactly as ``nlpcli translate`` builds them.

Import (M2M100 as transformers' M2M100Tokenizer lays it out): model ids come
from ``vocab.json`` (fairseq's dictionary), then the 100 language tokens
``__xx__`` in fairseq's order, then 8 "madeupword" fillers. We rebuild the
SentencePiece model with our special ids and permute the embedding rows to
match, so the imported model computes exactly what the original does.
Language ``__de__`` becomes our ``<2de>`` (use ``--src en --tgt de``), and the
checkpoint translates M2M100-style: ``<2src> source </s>`` in, decoding from
``</s> <2tgt>``.
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


# fairseq's M2M100 language list, in dictionary order (transformers' FAIRSEQ_LANGUAGE_CODES["m2m100"])
M2M100_LANGUAGES = (
    "af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl gu ha he hi hr ht hu hy "
    "id ig ilo is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml mn mr ms my ne nl no ns oc or pa pl ps pt ro ru "
    "sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk ur uz vi wo xh yi yo zh zu"
).split()
MADEUP_WORDS = 8


def m2m100_vocabulary(sp_model: bytes, vocab: dict[str, int]):
    """Our Tokenizer for an M2M100 SentencePiece model + fairseq dictionary, and
    for each of our ids the model row (M2M100 id) it reads."""
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    from nlpcli.tasks import language_token
    from nlpcli.tokenizer import Tokenizer

    piece_type = model_pb2.ModelProto.SentencePiece
    original = model_pb2.ModelProto()
    original.ParseFromString(sp_model)
    rebuilt = model_pb2.ModelProto()
    rebuilt.CopyFrom(original)
    del rebuilt.pieces[:]
    rows = []
    for piece, kind in (("<s>", piece_type.CONTROL), ("<pad>", piece_type.CONTROL), ("</s>", piece_type.CONTROL),
                        ("<unk>", piece_type.UNKNOWN)):
        if piece not in vocab:
            raise InputError(f"vocab.json has no {piece}")
        rebuilt.pieces.add(piece=piece, score=0.0, type=kind)
        rows.append(vocab[piece])
    for entry in original.pieces:
        if entry.type in (piece_type.CONTROL, piece_type.UNKNOWN):
            continue
        rebuilt.pieces.add(piece=entry.piece, score=entry.score, type=entry.type)
        rows.append(vocab.get(entry.piece, vocab["<unk>"]))  # as M2M100Tokenizer maps a piece missing from vocab.json
    extra = [language_token(code) for code in M2M100_LANGUAGES] + [f"madeupword{i:04d}" for i in range(MADEUP_WORDS)]
    for offset, token in enumerate(extra):
        rebuilt.pieces.add(piece=token, score=0.0, type=piece_type.USER_DEFINED)
        rows.append(len(vocab) + offset)
    spec = rebuilt.trainer_spec
    spec.bos_id, spec.pad_id, spec.eos_id, spec.unk_id = 0, 1, 2, 3
    spec.bos_piece, spec.pad_piece, spec.eos_piece, spec.unk_piece = "<s>", "<pad>", "</s>", "<unk>"
    return Tokenizer(rebuilt.SerializeToString()), rows


def read_hf_weights(folder: Path) -> dict:
    """model.safetensors, or pytorch_model.bin read with weights_only=True (never unpickled)."""
    import torch
    from safetensors.torch import load_file

    if (folder / "model.safetensors").is_file():
        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").is_file():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise InputError(f"{folder} has neither model.safetensors nor pytorch_model.bin")


def import_hf(in_dir: Path, out_dir: Path) -> Path:
    """Write an nlpcli checkpoint (float32) from an M2M100 folder."""
    import torch

    from nlpcli.checkpoint import CheckpointInfo, save_checkpoint
    from nlpcli.model import ModelConfig, Seq2SeqTransformer

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"output folder {out_dir} is not empty")
    config = _read_json(in_dir / "config.json")
    if config.get("model_type") != "m2m_100":
        raise InputError(f"{in_dir}/config.json: model_type {config.get('model_type')!r}; only m2m_100 folders can be imported")
    for key, wanted in (("activation_function", "relu"), ("scale_embedding", True),
                        ("encoder_attention_heads", config.get("decoder_attention_heads")),
                        ("encoder_ffn_dim", config.get("decoder_ffn_dim"))):
        if config.get(key) != wanted:
            raise InputError(f"{in_dir}/config.json: {key} = {config.get(key)!r}; nlpcli's core needs {wanted!r}")
    if not (in_dir / "sentencepiece.bpe.model").is_file():
        raise InputError(f"{in_dir} has no sentencepiece.bpe.model")
    tokenizer, rows = m2m100_vocabulary((in_dir / "sentencepiece.bpe.model").read_bytes(), _read_json(in_dir / "vocab.json"))
    if len(rows) != config["vocab_size"]:
        raise InputError(f"{in_dir}: vocab.json + {len(M2M100_LANGUAGES)} languages + {MADEUP_WORDS} fillers = {len(rows)} "
                         f"tokens, but config.json says vocab_size {config['vocab_size']}")
    weights = {name.removeprefix("model."): tensor.float() for name, tensor in read_hf_weights(in_dir).items()
               if name != "lm_head.weight" and "embed_positions" not in name}
    weights["shared.weight"] = weights["shared.weight"][torch.tensor(rows)]
    model = Seq2SeqTransformer(ModelConfig(
        vocab_size=len(rows), d_model=config["d_model"], n_heads=config["encoder_attention_heads"],
        ffn_dim=config["encoder_ffn_dim"], encoder_layers=config["encoder_layers"], decoder_layers=config["decoder_layers"],
        dropout=config.get("dropout", 0.1), attention_dropout=config.get("attention_dropout", 0.0),
        activation_dropout=config.get("activation_dropout", 0.0), max_positions=config["max_position_embeddings"],
        pad_id=config.get("pad_token_id", 1)))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [name for name in missing if name not in TIED_WEIGHTS]
    if missing or unexpected:
        raise InputError(f"{in_dir}: weights do not match M2M100's layout: missing {missing[:3]}, unexpected {unexpected[:3]}")
    info = CheckpointInfo(tasks={"translate": {"languages": M2M100_LANGUAGES, "style": "m2m100"}},
                          training={"imported_from": str(in_dir), "format": "Hugging Face M2M100"}, dtype="float32")
    save_checkpoint(out_dir, model, tokenizer, info)
    return out_dir


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} not found") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error.msg})") from None
