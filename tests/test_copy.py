"""summarize's pointer-generator: a copy distribution over the source mixed
with the vocabulary distribution (ModelConfig.copy_attention)."""
import torch
import torch.nn.functional as F

from nlpcli.decoding import DecoderState, beam_search, greedy_search
from nlpcli.model import ModelConfig, Seq2SeqTransformer
from nlpcli.training.objectives import task_loss

PAD, BOS, EOS = 1, 0, 2


def copy_model(gate_bias: float | None = None) -> Seq2SeqTransformer:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=50, d_model=32, n_heads=4, ffn_dim=64, encoder_layers=2, decoder_layers=1,
                         dropout=0.0, max_positions=64, copy_attention=True)
    model = Seq2SeqTransformer(config).eval()
    if gate_bias is not None:
        with torch.no_grad():
            model.copy_generator.gate.weight.normal_(std=0.3)  # a gate that varies with the state
            model.copy_generator.gate.bias.fill_(gate_bias)
    return model


def batch(seed: int = 1):
    torch.manual_seed(seed)
    src = torch.randint(4, 50, (3, 9))
    src[2, 6:] = PAD
    tgt = torch.randint(4, 50, (3, 6))
    tgt[:, 0] = BOS
    return src, tgt


def test_the_mixture_is_a_distribution_and_the_gate_lies_in_0_1():
    model = copy_model(gate_bias=0.0)
    src, tgt = batch()
    with torch.no_grad():
        log_probs, vocab_logits = model.copy_log_probs(src, tgt)
    probs = log_probs.exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 6), atol=1e-5, rtol=0)
    assert probs.min() >= 0 and probs.max() <= 1
    # where it mixes, the mixture lies between its two parts: >= g * p_vocab with g in (0, 1)
    vocab = vocab_logits.softmax(-1)
    ratio = (probs / vocab).min(-1).values  # g at tokens the source does not hold
    assert (ratio > 0).all() and (ratio < 1).all() and ratio.std() > 0  # a per-position gate strictly inside (0, 1)


def test_copying_produces_a_source_piece_the_vocabulary_gives_no_mass():
    model = copy_model(gate_bias=0.0)
    rare = 37
    vocabulary_logits = model.output_logits
    # the vocabulary side scores the rare piece 10^4 below its own score
    model.output_logits = lambda states: vocabulary_logits(states) - 1e4 * F.one_hot(torch.tensor(rare), 50)
    src = torch.tensor([[rare, rare, rare, EOS]])
    memory, padding_mask, _ = model.encoder(src)
    with torch.no_grad():
        vocab = F.softmax(model.output_logits(model.decoder(torch.tensor([[BOS]]), memory, padding_mask)[0]), -1)
        mixed = model.copy_log_probs(src, torch.tensor([[BOS]]))[0].exp()
    assert vocab[0, 0, rare] < 1e-30 and mixed[0, 0, rare] > 0.2
    without = greedy_search(model, src, [BOS], EOS, max_len=3)
    with_copy = greedy_search(model, src, [BOS], EOS, max_len=3, copy_source=True)
    assert rare not in without[0].tokens and with_copy[0].tokens[0] == rare


def test_cached_decoding_with_copying_equals_teacher_forcing():
    model = copy_model(gate_bias=0.0)
    src, tgt = batch(2)
    with torch.no_grad():
        full, _ = model.copy_log_probs(src, tgt)
    state = DecoderState(model, src, copy_source=True)
    with torch.inference_mode():
        steps = [state.step_logprobs(tgt[:, :2])] + [state.step_logprobs(tgt[:, i : i + 1]) for i in range(2, 6)]
    torch.testing.assert_close(torch.stack(steps, dim=1), full[:, 1:], atol=1e-5, rtol=1e-5)


def test_beam_search_with_copying_scores_its_hypotheses_by_the_mixture():
    model = copy_model(gate_bias=0.0)
    src, _ = batch(3)
    nbest = beam_search(model, src, [BOS], EOS, max_len=5, beam_size=3, n_best=2, copy_source=True)
    for row, hyps in enumerate(nbest):
        for hyp in hyps:
            tgt = torch.tensor([[BOS] + hyp.tokens])
            with torch.no_grad():
                log_probs, _ = model.copy_log_probs(src[row : row + 1, : int(src[row].ne(PAD).sum())], tgt[:, :-1])
            expected = log_probs[0].gather(-1, tgt[0, 1:, None]).sum()
            assert abs(hyp.score - float(expected)) < 1e-4


def test_a_fresh_copy_generator_starts_close_to_the_model_without_it():
    model = copy_model()
    plain = Seq2SeqTransformer(ModelConfig(**{**model.config.to_dict(), "copy_attention": False})).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    src, tgt = batch()
    with torch.no_grad():
        mixed, _ = model.copy_log_probs(src, tgt)
        vocab = F.log_softmax(plain(src, tgt), -1)
    # fresh gate: g = sigmoid(3) everywhere, so no token loses more than -log(0.95) nats
    assert (vocab - mixed).max() <= -torch.log(torch.sigmoid(torch.tensor(3.0))) + 1e-5
    assert {n for n in model.state_dict()} - set(plain.state_dict()) == {"copy_generator.gate.weight", "copy_generator.gate.bias"}


def test_the_summarize_loss_is_the_mixture_nll_with_the_vocabulary_smoothed():
    model = copy_model(gate_bias=0.0)
    src, tgt = batch()
    tgt[1, 4:] = PAD
    loss = task_loss(model, "summarize", src, tgt, PAD, label_smoothing=0.0)
    log_probs, _ = model.copy_log_probs(src, tgt[:, :-1])
    gold = tgt[:, 1:]
    expected = -log_probs.gather(-1, gold[..., None]).squeeze(-1)[gold.ne(PAD)].sum()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert model.copy_generator.gate.weight.grad.abs().sum() > 0
    # with the gate shut (all vocabulary) it is exactly label-smoothed cross-entropy
    with torch.no_grad():
        model.copy_generator.gate.bias.fill_(60.0)
        model.copy_generator.gate.weight.zero_()
    smoothed = task_loss(model, "summarize", src, tgt, PAD, label_smoothing=0.1)
    logits = model(src, tgt[:, :-1])
    reference = F.cross_entropy(logits.reshape(-1, 50), gold.reshape(-1), ignore_index=PAD, label_smoothing=0.1, reduction="sum")
    torch.testing.assert_close(smoothed, reference, atol=1e-4, rtol=1e-5)


def test_the_recipe_switches_copying_on(tmp_path):
    from test_recipe import BASE, write

    from nlpcli.training.recipe import load_recipe

    recipe = load_recipe(write(tmp_path, BASE), ["model.copy_attention=true"])
    assert recipe.model.copy_attention is True
    assert load_recipe(write(tmp_path, BASE)).model.copy_attention is False
