import torch
import torch.nn.functional as F

from nlpcli.decoding import DecoderState


def test_cached_incremental_decoding_equals_full_recomputation(tiny_model):
    torch.manual_seed(1)
    src = torch.randint(4, 50, (3, 9))
    src[2, 6:] = tiny_model.config.pad_id
    tgt = torch.randint(4, 50, (3, 6))
    full = F.log_softmax(tiny_model(src, tgt), dim=-1)
    state = DecoderState(tiny_model, src)
    with torch.inference_mode():
        first = state.step_logprobs(tgt[:, :2])  # a two-token prefix, then one token a step
        steps = [first] + [state.step_logprobs(tgt[:, i : i + 1]) for i in range(2, 6)]
    torch.testing.assert_close(torch.stack(steps, dim=1), full[:, 1:], atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_a_sentence(tiny_model):
    torch.manual_seed(2)
    short = torch.randint(4, 50, (1, 5))
    padded = torch.cat([short, torch.full((1, 4), tiny_model.config.pad_id)], dim=1)
    tgt = torch.randint(4, 50, (1, 4))
    torch.testing.assert_close(tiny_model(short, tgt), tiny_model(padded, tgt), atol=1e-5, rtol=1e-5)


def test_output_projection_is_tied_to_the_embedding(tiny_model):
    assert tiny_model.encoder.embed_tokens.weight is tiny_model.shared.weight
    assert tiny_model.decoder.embed_tokens.weight is tiny_model.shared.weight
    states = torch.randn(1, 2, 32)
    torch.testing.assert_close(tiny_model.output_logits(states), states @ tiny_model.shared.weight.T)


def test_parameter_names_follow_m2m100(tiny_model):
    names = set(tiny_model.state_dict())
    for name in ("shared.weight", "encoder.layers.0.self_attn.q_proj.weight", "encoder.layers.1.fc2.bias",
                 "encoder.layer_norm.weight", "decoder.layers.0.encoder_attn.out_proj.weight",
                 "decoder.layers.1.encoder_attn_layer_norm.bias", "decoder.layer_norm.weight"):
        assert name in names
