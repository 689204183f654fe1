"""Our core is numerically the same model as Hugging Face's M2M100."""
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from nlpcli.checkpoint import load_checkpoint  # noqa: E402
from nlpcli.convert import export_hf  # noqa: E402
from nlpcli.decoding import greedy_search  # noqa: E402
from nlpcli.tasks import TASKS  # noqa: E402


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


def write_fairseq_sentencepiece(folder, seed: int) -> bytes:
    """A 60-piece BPE model of the toy language as fairseq lays it out (<unk>=0, <s>=1, </s>=2),
    written as the hub's sentencepiece.bpe.model."""
    import io

    import sentencepiece as spm

    from conftest import toy_corpus

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter([side for pair in toy_corpus(400, seed) for side in pair]),
                                   model_writer=buffer, vocab_size=60, model_type="bpe", minloglevel=2)
    (folder / "sentencepiece.bpe.model").write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hf_m2m100(tmp_path_factory):
    """A tiny random M2M100 laid out as the Hugging Face hub has it: a fairseq-style
    SentencePiece BPE model (<unk>=0, <s>=1, </s>=2), vocab.json with its own ids,
    100 language tokens and 8 fillers after it."""
    import random

    import sentencepiece as spm

    folder = tmp_path_factory.mktemp("m2m100")
    processor = spm.SentencePieceProcessor(model_proto=write_fairseq_sentencepiece(folder, seed=7))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size()) if i > 2]
    random.Random(1).shuffle(pieces)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{p: 4 + i for i, p in enumerate(pieces)}}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    config = transformers.M2M100Config(
        vocab_size=len(vocab) + 108, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, dropout=0.0,
        scale_embedding=True, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
    torch.manual_seed(0)
    model = transformers.M2M100ForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer = transformers.M2M100Tokenizer(str(folder / "vocab.json"), str(folder / "sentencepiece.bpe.model"),
                                             src_lang="en", tgt_lang="de")
    return folder, model, tokenizer, vocab


def test_an_imported_m2m100_computes_what_transformers_computes(hf_m2m100, tmp_path):
    from nlpcli.batching import pad
    from nlpcli.convert import import_hf, m2m100_vocabulary
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks.translate import Translator

    folder, hf, hf_tokenizer, vocab = hf_m2m100
    loaded = load_checkpoint(import_hf(folder, tmp_path / "imported"))
    _, rows = m2m100_vocabulary((folder / "sentencepiece.bpe.model").read_bytes(), vocab)
    sentences = ["a man runs in the park", "der hund isst brot", "a red ball"]
    batch = hf_tokenizer(sentences, return_tensors="pt", padding=True)
    translator = Translator(loaded.model, loaded.tokenizer, style="m2m100", source="en")
    ours_src = [TASKS["translate"].encode(loaded.tokenizer, s, 64, translator.source_token("de"))[0] for s in sentences]
    assert [[rows[i] for i in ids] for ids in ours_src] == [
        [t for t in row if t != 1] for row in batch["input_ids"].tolist()]  # same tokens, M2M100 ids

    prefix = translator.decoder_prefix("de")
    with torch.no_grad():
        src = pad(ours_src, 1)
        ours = loaded.model(src, torch.tensor([prefix] * 3))
        theirs = hf(**batch, decoder_input_ids=torch.tensor([[2, hf_tokenizer.get_lang_id("de")]] * 3)).logits
    assert (ours - theirs[..., rows]).abs().max() <= 1e-4

    for beam in (1, 4):
        generated = hf.generate(**batch, forced_bos_token_id=hf_tokenizer.get_lang_id("de"), num_beams=beam,
                                do_sample=False, max_new_tokens=9, early_stopping=True, length_penalty=1.0)
        ours_out, _ = translator.translate(sentences, "de", GenerationSettings(beam=beam, max_len=8))
        for row, nbest in enumerate(ours_out):
            assert [rows[t] for t in nbest[0].tokens] == [t for t in generated[row, 2:].tolist() if t != 1]


def test_import_refuses_what_it_cannot_map(hf_m2m100, tmp_path):
    from nlpcli.convert import import_hf
    from nlpcli.errors import InputError

    folder = hf_m2m100[0]
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("sentencepiece.bpe.model", "vocab.json", "model.safetensors"):
        (broken / name).write_bytes((folder / name).read_bytes())
    config = json.loads((folder / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "activation_function": "gelu"}))
    with pytest.raises(InputError, match="activation_function = 'gelu'"):
        import_hf(broken, tmp_path / "out")


@pytest.fixture(scope="module")
def hf_nllb(tmp_path_factory):
    """A tiny random NLLB-200 laid out as the hub has it: a fairseq-style
    SentencePiece model and no dictionary file (model id = piece id + 1), the 202
    language codes, <mask> and two unused rows after it."""
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    folder = tmp_path_factory.mktemp("nllb")
    write_fairseq_sentencepiece(folder, seed=8)
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "NllbTokenizer"}))
    first_language = 60 + 1
    config = transformers.M2M100Config(
        vocab_size=first_language + len(FAIRSEQ_LANGUAGE_CODES) + 1 + 2, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=64, dropout=0.0, scale_embedding=True, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        decoder_start_token_id=2)
    torch.manual_seed(1)
    model = transformers.M2M100ForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer = transformers.NllbTokenizer.from_pretrained(folder)
    language_id = {code: first_language + i for i, code in enumerate(FAIRSEQ_LANGUAGE_CODES)}
    return folder, model, tokenizer, language_id


def test_an_imported_nllb_computes_what_transformers_computes(hf_nllb, tmp_path):
    from nlpcli.batching import pad
    from nlpcli.convert import import_hf, nllb_vocabulary
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks.translate import Translator

    folder, hf, hf_tokenizer, language_id = hf_nllb
    loaded = load_checkpoint(import_hf(folder, tmp_path / "imported"))
    assert "deu_Latn" in loaded.info.tasks["translate"]["languages"]
    _, rows = nllb_vocabulary((folder / "sentencepiece.bpe.model").read_bytes(), hf.config.vocab_size)
    sentences = ["a man runs in the park", "der hund isst brot", "a red ball"]
    # NllbTokenizer's (non-legacy) input: source language code, pieces, </s>
    theirs_src = [[language_id["eng_Latn"]] + hf_tokenizer(s, add_special_tokens=False).input_ids + [2] for s in sentences]
    translator = Translator(loaded.model, loaded.tokenizer, style="m2m100", source="eng_Latn")
    ours_src = [TASKS["translate"].encode(loaded.tokenizer, s, 64, translator.source_token("deu_Latn"))[0] for s in sentences]
    assert [[rows[i] for i in ids] for ids in ours_src] == theirs_src

    prefix = translator.decoder_prefix("deu_Latn")
    src = pad(theirs_src, 1)
    with torch.no_grad():
        ours = loaded.model(pad(ours_src, 1), torch.tensor([prefix] * 3))
        theirs = hf(input_ids=src, attention_mask=src.ne(1).long(),
                    decoder_input_ids=torch.tensor([[2, language_id["deu_Latn"]]] * 3)).logits
    assert (ours - theirs[..., rows]).abs().max() <= 1e-4

    for beam in (1, 4):
        generated = hf.generate(input_ids=src, attention_mask=src.ne(1).long(), forced_bos_token_id=language_id["deu_Latn"],
                                num_beams=beam, do_sample=False, max_new_tokens=9, early_stopping=True, length_penalty=1.0)
        ours_out, _ = translator.translate(sentences, "deu_Latn", GenerationSettings(beam=beam, max_len=8))
        for row, nbest in enumerate(ours_out):
            assert [rows[t] for t in nbest[0].tokens] == [t for t in generated[row, 2:].tolist() if t != 1]


def test_ctranslate2_runs_the_exported_weights_to_the_same_translations(toy_checkpoint, tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from test_cli import nlpcli
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks.translate import Translator

    result = nlpcli("convert", "--to", "ctranslate2", str(tmp_path / "ct2"), "--checkpoint", str(toy_checkpoint))
    assert result.returncode == 0, result.stderr.decode()
    loaded = load_checkpoint(toy_checkpoint)
    tok = loaded.tokenizer
    sources = ["a man runs", "the big dog sees a ball", "a red ball", "the man eats bread in the park"]
    encoded = [TASKS["translate"].encode(tok, s, 64, "<2de>")[0] for s in sources]
    engine = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu", intra_threads=1)
    for beam in (1, 4):
        ours = Translator(loaded.model, tok).translate_ids(encoded, GenerationSettings(beam=beam))
        theirs = engine.translate_batch([tok.pieces(ids) for ids in encoded], beam_size=beam, length_penalty=1.0)
        for nbest, result in zip(ours, theirs):
            assert tok.pieces(nbest[0].tokens) == result.hypotheses[0] + ["</s>"]


def test_ctranslate2_translates_with_the_checkpoints_shortlist_as_nlpcli_does(toy_checkpoint, tmp_path):
    """The export carries the vocabulary shortlist as CTranslate2's vmap.txt, and
    use_vmap=True then restricts each batch to the same pieces nlpcli's shortlist does."""
    import shutil

    ctranslate2 = pytest.importorskip("ctranslate2")
    from nlpcli.convert import export_ctranslate2
    from nlpcli.decoding import GenerationSettings
    from nlpcli.shortlist import VocabularyShortlist
    from nlpcli.tasks.translate import Translator

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(toy_checkpoint, checkpoint)
    loaded = load_checkpoint(checkpoint)
    tok = loaded.tokenizer
    # every batch: the special pieces and the words of "ein mann rennt"; "ball" only for sources that say "ball"
    frequent = [tok.bos_id, tok.eos_id, tok.unk_id] + tok.encode("ein mann rennt")
    candidates = torch.full((len(tok), 2), -1)
    for source_piece in tok.encode("ball"):
        candidates[source_piece, : len(tok.encode("ball"))] = torch.tensor(tok.encode("ball"))
    shortlist = VocabularyShortlist(torch.tensor(frequent), candidates)
    shortlist.save(checkpoint)
    export_ctranslate2(checkpoint, tmp_path / "ct2")
    assert (tmp_path / "ct2" / "vmap.txt").is_file()

    sources = ["a man runs", "the big dog sees a ball", "a red ball", "the man eats bread in the park"]
    encoded = [TASKS["translate"].encode(tok, s, 64, "<2de>")[0] for s in sources]
    engine = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu", intra_threads=1)
    max_len = 20  # the same limit for both: a source whose words the shortlist lacks may never reach </s>
    for beam in (1, 4):
        settings = GenerationSettings(beam=beam, max_len=max_len)
        listed = Translator(loaded.model, tok, shortlist=shortlist).translate_ids(encoded, settings)
        plain = Translator(loaded.model, tok).translate_ids(encoded, settings)
        theirs = engine.translate_batch([tok.pieces(ids) for ids in encoded], beam_size=beam, length_penalty=1.0,
                                        use_vmap=True, max_decoding_length=max_len)
        for nbest, result in zip(listed, theirs):
            assert tok.pieces([t for t in nbest[0].tokens if t != tok.eos_id]) == result.hypotheses[0]
        assert [n[0].tokens for n in listed] != [n[0].tokens for n in plain]  # the shortlist changed what came out
        assert set(listed[1][0].tokens) <= set(frequent + tok.encode("ball"))


@pytest.fixture(scope="module")
def deep_encoder_checkpoint(toy_checkpoint, tmp_path_factory):
    """4 encoder layers + 1 decoder layer that translate the toy language: the toy
    model's 2 encoder layers, then the same 2 again with their outputs damped, and its
    first decoder layer; with every task head and opt-in feature (none of which the
    export can hold) switched on and non-zero."""
    from nlpcli.checkpoint import CheckpointInfo, save_checkpoint
    from nlpcli.model import ModelConfig, Seq2SeqTransformer
    from nlpcli.tasks import ENTITY_TAGS

    toy = load_checkpoint(toy_checkpoint)
    torch.manual_seed(4)
    config = ModelConfig(**{**toy.model.config.to_dict(), "encoder_layers": 4, "decoder_layers": 1, "sentiment_labels": 2,
                            "entity_tags": len(ENTITY_TAGS), "entity_crf": True, "answer_spans": True, "copy_attention": True,
                            "question_match": True, "answer_end_given_start": True, "word_shapes": True})
    model = Seq2SeqTransformer(config).eval()
    own = model.state_dict()
    with torch.no_grad():
        for name, tensor in toy.model.state_dict().items():
            if name in own:
                own[name].copy_(tensor)
            if name.startswith("encoder.layers."):
                parts = name.split(".")
                parts[2] = str(int(parts[2]) + 2)
                own[".".join(parts)].copy_(tensor * (0.2 if parts[-2] in ("out_proj", "fc2") else 1.0))
        for feature in model.feature_modules():
            for parameter in feature.parameters():
                parameter.normal_(std=0.1)
    folder = tmp_path_factory.mktemp("deep-encoder") / "checkpoint"
    save_checkpoint(folder, model, toy.tokenizer, CheckpointInfo(tasks=toy.info.tasks, dtype="float32"))
    return folder


def test_unequal_encoder_and_decoder_depths_export_with_parity(deep_encoder_checkpoint, tmp_path):
    from nlpcli.batching import pad
    from nlpcli.decoding import beam_search

    out = export_hf(deep_encoder_checkpoint, tmp_path / "model")
    hf, loading = transformers.M2M100ForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    hf.eval()
    assert not loading["missing_keys"] and not loading["unexpected_keys"] and not loading["mismatched_keys"]
    assert (hf.config.encoder_layers, hf.config.decoder_layers) == (4, 1)
    loaded = load_checkpoint(deep_encoder_checkpoint)
    tok = loaded.tokenizer
    sources = ["a man runs", "the big dog sees a ball in the park", "a red ball", "the woman eats bread and the cat sleeps"]
    src = pad([[tok.token_id("<2de>")] + tok.encode(s) + [tok.eos_id] for s in sources], tok.pad_id)
    mask = src.ne(tok.pad_id).long()
    tgt = torch.tensor([[tok.bos_id] + tok.encode("ein mann rennt")] * len(sources))
    with torch.no_grad():
        assert (loaded.model(src, tgt) - hf(input_ids=src, attention_mask=mask, decoder_input_ids=tgt).logits).abs().max() <= 1e-4
    ours = greedy_search(loaded.model, src, [tok.bos_id], tok.eos_id, max_len=12)
    theirs = hf.generate(input_ids=src, attention_mask=mask, num_beams=1, do_sample=False, max_new_tokens=12)
    for row, hyp in enumerate(ours):
        assert hyp.tokens == [t for t in theirs[row, 1:].tolist() if t != tok.pad_id]
    ours = beam_search(loaded.model, src, [tok.bos_id], tok.eos_id, max_len=12, beam_size=4)
    theirs = hf.generate(input_ids=src, attention_mask=mask, num_beams=4, do_sample=False, max_new_tokens=12,
                         length_penalty=1.0, early_stopping=True)
    for row, hyps in enumerate(ours):
        assert hyps[0].tokens == [t for t in theirs[row, 1:].tolist() if t != tok.pad_id], sources[row]
    assert tok.decode(ours[0][0].tokens) == "ein mann rennt"  # a model that translates, so parity means something


def test_the_export_names_what_m2m100_leaves_out(deep_encoder_checkpoint, tmp_path):
    from test_cli import nlpcli

    result = nlpcli("convert", "--to", "hf", str(tmp_path / "hf"), "--checkpoint", str(deep_encoder_checkpoint))
    assert result.returncode == 0, result.stderr.decode()
    warning = result.stderr.decode()
    for left_out in ("copy_generator", "span_head", "entity_head", "sentiment_head", "question_match_embedding",
                     "word_shape_embedding", "span_end_given_start", "entity_transitions"):
        assert left_out in warning


def test_ctranslate2_runs_unequal_depths_to_the_same_translations(deep_encoder_checkpoint, tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from nlpcli.convert import export_ctranslate2
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks.translate import Translator

    export_ctranslate2(deep_encoder_checkpoint, tmp_path / "ct2")
    loaded = load_checkpoint(deep_encoder_checkpoint)
    tok = loaded.tokenizer
    sources = ["a man runs", "the big dog sees a ball", "a red ball", "the man eats bread in the park"]
    encoded = [TASKS["translate"].encode(tok, s, 64, "<2de>")[0] for s in sources]
    engine = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu", intra_threads=1)
    for beam in (1, 4):
        ours = Translator(loaded.model, tok).translate_ids(encoded, GenerationSettings(beam=beam))
        theirs = engine.translate_batch([tok.pieces(ids) for ids in encoded], beam_size=beam, length_penalty=1.0)
        for nbest, result in zip(ours, theirs):
            assert tok.pieces(nbest[0].tokens) == result.hypotheses[0] + ["</s>"]


def test_convert_to_and_from_hf_through_the_command_line(toy_checkpoint, exported, hf_m2m100, tmp_path):
    from safetensors.torch import load_file

    from nlpcli.convert import import_hf
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks.translate import Translator
    from test_cli import lines, nlpcli

    out = tmp_path / "hf"
    result = nlpcli("convert", "--to", "hf", out, "-c", toy_checkpoint)
    assert result.returncode == 0 and f"wrote {out}" in result.stderr.decode(), result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in exported[0].iterdir())
    ours, library = load_file(str(out / "model.safetensors")), load_file(str(exported[0] / "model.safetensors"))
    assert ours.keys() == library.keys() and all(torch.equal(ours[k], library[k]) for k in ours)
    assert json.loads((out / "config.json").read_text()) == json.loads((exported[0] / "config.json").read_text())

    folder = hf_m2m100[0]
    imported = tmp_path / "imported"
    result = nlpcli("convert", "--from", "hf", folder, imported)
    assert result.returncode == 0 and f"--checkpoint {imported}" in result.stderr.decode(), result.stderr
    reference = load_checkpoint(import_hf(folder, tmp_path / "library"))
    loaded = load_checkpoint(imported)
    assert all(torch.equal(a, b) for a, b in zip(loaded.model.state_dict().values(), reference.model.state_dict().values()))
    sentences = ["a man runs in the park", "a red ball"]
    translated = nlpcli("translate", "-c", imported, "--src", "en", "--tgt", "de", "--beam", "1", "--max-len", "8", *sentences)
    assert translated.returncode == 0, translated.stderr
    expected, _ = Translator(reference.model, reference.tokenizer, style="m2m100", source="en").translate(
        sentences, "de", GenerationSettings(beam=1, max_len=8))
    assert lines(translated) == [nbest[0].text for nbest in expected]
    assert nlpcli("convert", "--to", "hf", "-c", toy_checkpoint, out, tmp_path / "extra").returncode == 1
