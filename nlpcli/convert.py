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
import tempfile
from pathlib import Path
from types import SimpleNamespace

from nlpcli import console
from nlpcli.checkpoint import TOKENIZER_FILE, TIED_WEIGHTS, load_checkpoint
from nlpcli.errors import InputError
from nlpcli.shortlist import VocabularyShortlist
from nlpcli.tasks import language_token


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
    return write_hf(load_checkpoint(checkpoint), out_dir)


def write_hf(loaded, out_dir: Path) -> Path:
    """``export_hf`` of a checkpoint already loaded."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"output folder {out_dir} is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    # M2M100 is the encoder-decoder alone: the task output layers on the encoder
    # (sentiment, entities, answers), summarize's copy generator and the word
    # features have no place in it and are left out
    core = ("shared", "encoder", "decoder")
    tensors = {f"model.{name}": t.contiguous() for name, t in loaded.model.state_dict().items()
               if name not in TIED_WEIGHTS and name.split(".")[0] in core}
    left_out = sorted({name.split(".")[0] for name in loaded.model.state_dict()} - set(core))
    if left_out:
        console.warn("the export holds the encoder-decoder only, for translation (summaries without copying); "
                     f"M2M100 has no counterpart of: {', '.join(left_out)}")
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(m2m100_config(loaded.model.config, loaded.tokenizer), indent=2) + "\n")
    shutil.copyfile(loaded.path / TOKENIZER_FILE, out_dir / "sentencepiece.model")
    return out_dir


def export_ctranslate2(checkpoint: Path | None, out_dir: Path) -> Path:
    """A CTranslate2 model folder (float32; CTranslate2 quantizes at load time, e.g.
    ``compute_type="int8"``), made by CTranslate2's own Transformers converter from
    the M2M100 export. That export has no M2M100Tokenizer files, so the converter
    is handed our vocabulary directly; token strings are our SentencePiece pieces."""
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError:
        raise InputError("--to ctranslate2 needs CTranslate2: pip install 'nlpcli[ctranslate2]'") from None
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"output folder {out_dir} is not empty")
    loaded = load_checkpoint(checkpoint)
    tokenizer = loaded.tokenizer
    pieces = tokenizer.pieces(range(len(tokenizer)))
    vocabulary = SimpleNamespace(
        get_vocab=lambda: {piece: i for i, piece in enumerate(pieces)}, convert_ids_to_tokens=pieces.__getitem__,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", unk_token_id=tokenizer.unk_id,
        special_tokens_map={}, num_madeup_words=0)

    class OurVocabularyConverter(TransformersConverter):
        def load_tokenizer(self, *args, **kwargs):
            return vocabulary

    shortlist = VocabularyShortlist.load(loaded.path, len(tokenizer))
    with tempfile.TemporaryDirectory() as staging:
        hf_dir = write_hf(loaded, Path(staging) / "hf")
        vmap = None
        if shortlist is not None:
            vmap = Path(staging) / "vmap.txt"
            vmap.write_text(ctranslate2_vocabulary_map(shortlist, pieces), encoding="utf-8")
        OurVocabularyConverter(str(hf_dir), copy_files=["sentencepiece.model"]).convert(str(out_dir), vmap=vmap and str(vmap),
                                                                                        force=True)
    return out_dir


def ctranslate2_vocabulary_map(shortlist: VocabularyShortlist, pieces: list[str]) -> str:
    """The shortlist as CTranslate2's ``vmap.txt`` (``translate_batch(..., use_vmap=True)``):
    one line per source piece, ``piece<TAB>target pieces``, and a first line with an
    empty key for the pieces every batch may produce. Both then restrict a batch to the
    same pieces, except that CTranslate2 also always allows <unk>, <s> and </s>.
    SentencePiece writes spaces as "▁", so no piece holds the separators."""
    def joined(ids) -> str:
        return " ".join(pieces[i] for i in ids if i >= 0)

    lines = ["\t" + joined(shortlist.frequent.tolist())]
    for source, candidates in enumerate(shortlist.candidates.tolist()):
        if any(i >= 0 for i in candidates):
            lines.append(f"{pieces[source]}\t{joined(candidates)}")
    return "\n".join(lines) + "\n"


# fairseq's M2M100 language list, in dictionary order (transformers' FAIRSEQ_LANGUAGE_CODES["m2m100"])
M2M100_LANGUAGES = (
    "af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl gu ha he hi hr ht hu hy "
    "id ig ilo is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml mn mr ms my ne nl no ns oc or pa pl ps pt ro ru "
    "sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk ur uz vi wo xh yi yo zh zu"
).split()
MADEUP_WORDS = 8
# NLLB-200's language list, in dictionary order (transformers' FAIRSEQ_LANGUAGE_CODES in tokenization_nllb)
NLLB_LANGUAGES = (
    "ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn amh_Ethi apc_Arab arb_Arab ars_Arab "
    "ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn bak_Cyrl bam_Latn ban_Latn bel_Cyrl "
    "bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn bug_Latn bul_Cyrl cat_Latn ceb_Latn ces_Latn "
    "cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn dik_Latn dyu_Latn dzo_Tibt ell_Grek eng_Latn epo_Latn "
    "est_Latn eus_Latn ewe_Latn fao_Latn pes_Arab fij_Latn fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn gla_Latn "
    "gle_Latn glg_Latn grn_Latn guj_Gujr hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn hun_Latn hye_Armn "
    "ibo_Latn ilo_Latn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn kan_Knda kas_Arab "
    "kas_Deva kat_Geor knc_Arab knc_Latn kaz_Cyrl kbp_Latn kea_Latn khm_Khmr kik_Latn kin_Latn kir_Cyrl kmb_Latn "
    "kon_Latn kor_Hang kmr_Latn lao_Laoo lvs_Latn lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn ltg_Latn ltz_Latn "
    "lua_Latn lug_Latn luo_Latn lus_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Latn mkd_Cyrl plt_Latn mlt_Latn "
    "mni_Beng khk_Cyrl mos_Latn mri_Latn zsm_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nso_Latn nus_Latn "
    "nya_Latn oci_Latn gaz_Latn ory_Orya pag_Latn pan_Guru pap_Latn pol_Latn por_Latn prs_Arab pbt_Arab quy_Latn "
    "ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Beng scn_Latn shn_Mymr sin_Sinh slk_Latn slv_Latn smo_Latn "
    "sna_Latn snd_Arab som_Latn sot_Latn spa_Latn als_Latn srd_Latn srp_Cyrl ssw_Latn sun_Latn swe_Latn swh_Latn "
    "szl_Latn tam_Taml tat_Cyrl tel_Telu tgk_Cyrl tgl_Latn tha_Thai tir_Ethi taq_Latn taq_Tfng tpi_Latn tsn_Latn "
    "tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn vec_Latn "
    "vie_Latn war_Latn wol_Latn xho_Latn ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zul_Latn"
).split()
SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>")


def m2m100_vocabulary(sp_model: bytes, vocab: dict[str, int]):
    """Our Tokenizer for an M2M100 SentencePiece model + fairseq dictionary, and
    for each of our ids the model row (M2M100 id) it reads."""
    for piece in SPECIAL_PIECES:
        if piece not in vocab:
            raise InputError(f"vocab.json has no {piece}")
    languages = [(language_token(code), len(vocab) + i) for i, code in enumerate(M2M100_LANGUAGES)]
    fillers = [(f"madeupword{i:04d}", len(vocab) + len(languages) + i) for i in range(MADEUP_WORDS)]
    # a piece missing from vocab.json reads <unk>'s row, as M2M100Tokenizer maps it
    return _hub_vocabulary(sp_model, {p: vocab[p] for p in SPECIAL_PIECES},
                           lambda piece, _: vocab.get(piece, vocab["<unk>"]), languages + fillers)


def nllb_vocabulary(sp_model: bytes, vocab_size: int):
    """The same for NLLB-200 (NllbTokenizer's layout): no dictionary file; model id =
    SentencePiece id + 1 (fairseq's offset), then the 202 language codes, <mask>,
    and unused rows up to ``vocab_size``."""
    from sentencepiece import SentencePieceProcessor

    first_extra = SentencePieceProcessor(model_proto=sp_model).get_piece_size() + 1
    extra = [language_token(code) for code in NLLB_LANGUAGES] + ["<mask>"]
    extra += [f"madeupword{i:04d}" for i in range(vocab_size - first_extra - len(extra))]
    return _hub_vocabulary(sp_model, {p: i for i, p in enumerate(SPECIAL_PIECES)}, lambda _, sp_id: sp_id + 1,
                           [(token, first_extra + i) for i, token in enumerate(extra)])


def _hub_vocabulary(sp_model: bytes, specials: dict[str, int], row_of_piece, extra: list[tuple[str, int]]):
    """Rebuild the SentencePiece model with our special ids (<s>=0, <pad>=1, </s>=2,
    <unk>=3), its ordinary pieces after them and the ``extra`` tokens (language
    codes, fillers) at the end; return it with the model row each of our ids reads."""
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    from nlpcli.tokenizer import Tokenizer

    piece_type = model_pb2.ModelProto.SentencePiece
    original = model_pb2.ModelProto()
    original.ParseFromString(sp_model)
    rebuilt = model_pb2.ModelProto()
    rebuilt.CopyFrom(original)
    del rebuilt.pieces[:]
    rows = []
    for piece, row in specials.items():
        rebuilt.pieces.add(piece=piece, score=0.0, type=piece_type.UNKNOWN if piece == "<unk>" else piece_type.CONTROL)
        rows.append(row)
    for sp_id, entry in enumerate(original.pieces):
        if entry.type in (piece_type.CONTROL, piece_type.UNKNOWN):
            continue
        rebuilt.pieces.add(piece=entry.piece, score=entry.score, type=entry.type)
        rows.append(row_of_piece(entry.piece, sp_id))
    for token, row in extra:
        rebuilt.pieces.add(piece=token, score=0.0, type=piece_type.USER_DEFINED)
        rows.append(row)
    spec = rebuilt.trainer_spec
    spec.bos_id, spec.pad_id, spec.eos_id, spec.unk_id = 0, 1, 2, 3
    spec.bos_piece, spec.pad_piece, spec.eos_piece, spec.unk_piece = SPECIAL_PIECES
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
    """Write an nlpcli checkpoint (float32) from an M2M100 or NLLB-200 folder."""
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
    sp_model = (in_dir / "sentencepiece.bpe.model").read_bytes()
    if (in_dir / "vocab.json").is_file():  # M2M100Tokenizer's layout; NLLB's has no dictionary file
        family, languages = "M2M100", M2M100_LANGUAGES
        tokenizer, rows = m2m100_vocabulary(sp_model, _read_json(in_dir / "vocab.json"))
    else:
        family, languages = "NLLB-200", NLLB_LANGUAGES
        tokenizer, rows = nllb_vocabulary(sp_model, config["vocab_size"])
    if len(rows) != config["vocab_size"]:
        raise InputError(f"{in_dir}: the {family} vocabulary has {len(rows)} tokens (pieces, {len(languages)} languages, "
                         f"fillers), but config.json says vocab_size {config['vocab_size']}")
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
    info = CheckpointInfo(tasks={"translate": {"languages": list(languages), "style": "m2m100"}},
                          training={"imported_from": str(in_dir), "format": f"Hugging Face {family}"}, dtype="float32")
    save_checkpoint(out_dir, model, tokenizer, info)
    return out_dir


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} not found") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error.msg})") from None
