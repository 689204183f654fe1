"""answer: DrQA's question-match feature and question vector, the end
conditioned on the start, and no-answer windows (ModelConfig.question_match,
answer_question_vector, answer_end_given_start, answer_no_answer_windows; all
off by default)."""
import pytest
import torch

from nlpcli.features import find_words, normalize_word, question_match_flags
from nlpcli.model import ModelConfig, QuestionVectorSpanScores, Seq2SeqTransformer
from nlpcli.tasks.answer import Window, best_span, encode_windows, question_positions, window_batch
from nlpcli.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.load("checkpoints/nlpcli-base/tokenizer.model")


def flags_by_word(question, context):
    """The flag of each word of the context, with pieces given one per character."""
    spans = [(i, i + 1) for i in range(len(context))]
    flags = question_match_flags(question, context, spans)
    return {word: flags[start] for word, start, _ in find_words(context)}


def test_words_match_across_case_combining_marks_and_nfkc_variants():
    assert normalize_word("CAFÉ") == normalize_word("cafe\u0301") == normalize_word("Café") == "café"
    assert normalize_word("ＰＡＲＩＳ") == "paris" and normalize_word("ﬁle") == "file" and normalize_word("Straße") == "strasse"
    flags = flags_by_word("Who ran the CAFE\u0301 in ＰＡＲＩＳ and the ﬁle office in Straße?",
                          "Marie ran a café (Paris) near the file-office of the strasse; nobody else did.")
    assert flags == {"Marie": 0, "ran": 1, "a": 0, "café": 1, "Paris": 1, "near": 0, "the": 1, "file": 1,
                     "office": 1, "of": 0, "strasse": 1, "nobody": 0, "else": 0, "did": 0}


def test_chinese_and_japanese_characters_match_one_by_one():
    flags = flags_by_word("東京はどこ？", "日本の首都は東京です。")
    assert flags == {"日": 0, "本": 0, "の": 0, "首": 0, "都": 0, "は": 1, "東": 1, "京": 1, "で": 0, "す": 0}
    assert [w for w, _, _ in find_words("Seoul은 서울 입니다")] == ["Seoul은", "서울", "입니다"]  # Hangul keeps its spaces


def test_ascii_text_splits_into_words_as_any_other_text():
    # ASCII text takes a regular expression instead of the character loop: "_" and
    # punctuation end words there too, and a word beside non-ASCII text is the same word
    text = "snake_case x2 (world)-wide, 1,876 U.K."
    words = [w for w, _, _ in find_words(text)]
    assert words == ["snake", "case", "x2", "world", "wide", "1", "876", "U", "K"]
    assert [w for w, _, _ in find_words(text + " é")] == words + ["é"]
    assert find_words(text)[3] == ("world", 15, 20) and find_words(text + " é")[3] == ("world", 15, 20)


def test_questions_about_one_context_keep_their_own_flags():
    # the context's words and pieces are cached between questions; the flags are not
    context = "Paris is the capital of France."
    assert flags_by_word("Where is Paris?", context)["Paris"] == 1
    assert flags_by_word("What is France?", context) == {"Paris": 0, "is": 1, "the": 0, "capital": 0, "of": 0, "France": 1}


def test_every_piece_of_a_word_shares_its_flag(tokenizer):
    question = "Where is Cupertino?"
    context = "Apple is based in (Cupertino), California."
    [window] = encode_windows(tokenizer, question, context, 64, 32)
    assert len(window.question_match) == len(window.ids)
    assert not any(window.question_match[: window.context_start])  # the question itself is not flagged
    pieces = [(context[s:e].strip(), flag) for (s, e), flag in zip(window.spans, window.question_match[window.context_start:])]
    flagged = [piece for piece, flag in pieces if flag]
    assert flagged[0] == "is" and "".join(flagged[1:]) == "Cupertino" and len(flagged) > 2  # every piece of the word
    assert ("(", 0) in pieces and ("),", 0) in pieces  # the brackets glued to it are not the word


def answer_model(**features) -> Seq2SeqTransformer:
    torch.manual_seed(0)
    return Seq2SeqTransformer(ModelConfig(vocab_size=60, d_model=32, n_heads=4, ffn_dim=64, encoder_layers=2,
                                          decoder_layers=1, dropout=0.0, max_positions=64, answer_spans=True,
                                          **features)).eval()


def with_random_feature_weights(model):
    with torch.no_grad():
        model.question_match_embedding.weight[1].normal_()
        model.span_end_given_start.score.weight.normal_()
    return model


def test_switching_the_answer_features_on_starts_as_a_no_op():
    plain = answer_model()
    featured = answer_model(question_match=True, answer_end_given_start=True, answer_question_vector=True)
    featured.load_state_dict(plain.state_dict(), strict=False)
    src = torch.randint(4, 60, (2, 12))
    matches = torch.randint(0, 2, (2, 12))
    question = torch.zeros(2, 12, dtype=torch.bool)
    question[:, 1:4] = True
    with torch.no_grad():
        torch.testing.assert_close(featured.span_pair_logits(src, matches, question_mask=question), plain.span_pair_logits(src))
        torch.testing.assert_close(featured.span_logits(src, matches, starts=torch.tensor([3, 5]), question_mask=question),
                                   plain.span_logits(src))


def test_the_question_vector_reads_the_question_pieces_only():
    torch.manual_seed(0)
    scores = QuestionVectorSpanScores(16)
    torch.nn.init.normal_(scores.bilinear.weight)
    states = torch.randn(1, 10, 16)
    question = torch.zeros(1, 10, dtype=torch.bool)
    question[0, 1:4] = True
    before = scores(states, question)
    context_changed, question_changed = states.clone(), states.clone()
    context_changed[0, 7] += 1.0
    question_changed[0, 2] += 1.0
    after = scores(context_changed, question)
    others = [i for i in range(10) if i != 7]
    torch.testing.assert_close(after[0, others], before[0, others])  # a context piece moves its own scores only
    assert not torch.allclose(after[0, 7], before[0, 7])
    assert not torch.allclose(scores(question_changed, question)[0, 8], before[0, 8])  # a question piece moves every score


def test_window_batches_mark_exactly_the_question_pieces(tokenizer):
    question, context = "Where is Cupertino?", " ".join(["Apple is based in Cupertino, California."] * 8)
    windows = encode_windows(tokenizer, question, context, 40, 20)
    src, matches, question_mask = window_batch(windows, tokenizer.pad_id)
    assert len(windows) > 1 and question_mask.shape == src.shape
    for row in range(len(windows)):
        assert src[row][question_mask[row]].tolist() == tokenizer.encode(question)
        assert matches[row].tolist()[: len(windows[row].ids)] == windows[row].question_match


def test_the_end_given_start_band_agrees_with_the_training_scores():
    model = with_random_feature_weights(answer_model(question_match=True, answer_end_given_start=True))
    src = torch.randint(4, 60, (2, 12))
    src[1, 9:] = 1
    matches = torch.randint(0, 2, (2, 12))
    with torch.no_grad():
        start, band = model.span_pair_logits(src, matches, max_tokens=5)
        for s in range(12):
            trained_start, trained_end = model.span_logits(src, matches, starts=torch.tensor([s, s]))
            torch.testing.assert_close(start, trained_start)
            for w in range(5):
                expected = trained_end[:, s + w] if s + w < 12 else torch.full((2,), float("-inf"))
                torch.testing.assert_close(band[:, s, w], expected)
        assert not torch.equal(band[0, 2], model.span_pair_logits(src, torch.zeros_like(matches), 5)[1][0, 2])  # reads the flags


def test_end_conditioned_search_picks_the_best_valid_pair():
    spans = [(0, 4), (5, 9), (9, 9), (10, 14), (15, 19), (20, 24)]  # the third piece has an empty span
    window = Window(ids=[0] * 10, context_start=3, spans=spans, question_match=[0] * 10)
    start = torch.full((10,), -5.0)
    start[0] = 50.0  # the no-answer position and the question never answer
    start[3 + 1], start[3 + 3] = 2.0, 1.5
    band = torch.zeros(10, 4)
    band[3 + 1, 1] = 90.0  # ends on the empty piece: invalid
    band[3 + 1, 2] = 3.0  # span 1..3: 2.0 + 3.0
    band[3 + 3, 2] = 4.0  # span 3..5: 1.5 + 4.0 = 5.5, the best valid pair
    band[3 + 4, 3] = 99.0  # would end past the context: invalid
    logit, first, last, probability = best_span(start, band, window, end_given_start=True)
    assert (first, last, logit) == (3, 5, 5.5)
    assert probability == pytest.approx(float(start.softmax(-1)[6] * band[6].softmax(-1)[2]))


def test_no_answer_windows_point_at_position_0_and_targets_carry_the_flags(tokenizer):
    from nlpcli.tasks import TASKS

    encode_answers = TASKS["answer"].pool

    spec = type("Spec", (), {"name": "s", "weight": 1.0})()
    context = " ".join(["The river is long and the valley is green."] * 12) + " The tower stands in Paris."
    example = {"question": "Where does the tower stand?", "context": context, "answer": "Paris",
               "answer_start": context.index("Paris")}
    windows = encode_windows(tokenizer, example["question"], context, 64, 32)
    assert len(windows) > 3
    today = encode_answers(spec, [example], tokenizer, 64)
    assert len(today) < len(windows) and all(len(t) == 3 and t[0] > 0 for t in today.targets)  # unanswered windows dropped
    config = ModelConfig(answer_spans=True, question_match=True, answer_no_answer_windows=True)
    pool = encode_answers(spec, [example], tokenizer, 64, config)
    assert pool.sources == [w.ids for w in windows]
    for window, target in zip(windows, pool.targets):
        assert target[2] == window.context_start and target[3:] == window.question_match
        if target[:2] == [0, 0]:
            assert "Paris" not in "".join(context[s:e] for s, e in window.spans)
        else:
            assert tokenizer.decode(window.ids[target[0] : target[1] + 1]).strip() == "Paris"
    assert sum(t[:2] == [0, 0] for t in pool.targets) == len(windows) - len(today)


def test_the_answer_loss_trains_the_new_features(tokenizer):
    from nlpcli.tasks import TASKS
    from nlpcli.training.objectives import collate, prediction_count, task_loss

    encode_answers = TASKS["answer"].pool

    spec = type("Spec", (), {"name": "s", "weight": 1.0})()
    context = "The tower stands in Paris. The river is long."
    examples = [{"question": q, "context": context, "answer": a, "answer_start": context.index(a)}
                for q, a in (("Where does the tower stand?", "Paris"), ("What is long?", "The river"))]
    config = ModelConfig(vocab_size=len(tokenizer), d_model=32, n_heads=4, ffn_dim=64, encoder_layers=1, decoder_layers=1,
                         max_positions=64, answer_spans=True, question_match=True, answer_end_given_start=True,
                         answer_question_vector=True)
    pool = encode_answers(spec, examples, tokenizer, 64, config)
    src, tgt = collate([pool], [(0, 0), (0, 1)], tokenizer.pad_id, "answer")
    assert tgt.shape == (2, 3 + src.size(1)) and prediction_count("answer", tgt, tokenizer.pad_id) == 2
    question_mask = question_positions(tgt[:, 2], src.size(1))
    assert [src[row][question_mask[row]].tolist() for row in range(2)] == [tokenizer.encode(e["question"]) for e in examples]
    torch.manual_seed(0)
    model = Seq2SeqTransformer(config)
    task_loss(model, "answer", src, tgt, tokenizer.pad_id, 0.1).backward()
    assert model.question_match_embedding.weight.grad[1].abs().sum() > 0
    assert model.question_match_embedding.weight.grad[0].abs().sum() == 0  # value 0 adds nothing, ever
    assert model.span_end_given_start.score.weight.grad.abs().sum() > 0
    assert model.span_question_scores.bilinear.weight.grad.abs().sum() > 0


def test_answer_max_tokens_bounds_the_band_and_a_length_penalty_prefers_shorter_spans():
    for features in ({}, {"answer_end_given_start": True}):
        model = answer_model(answer_max_tokens=12, **features)
        _, band = model.span_pair_logits(torch.randint(4, 60, (1, 40)))
        assert band.shape == (1, 40, 12)
    window = Window(ids=[0] * 8, context_start=2, spans=[(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)], question_match=[0] * 8)
    start, band = torch.zeros(8), torch.zeros(8, 5)
    band[2, 3] = 1.0  # pieces 0..3: 1.0
    band[2, 0] = 0.5  # piece 0 alone: 0.5
    assert best_span(start, band, window)[1:3] == (0, 3)
    logit, first, last, _ = best_span(start, band, window, length_penalty=0.25)
    assert (first, last, logit) == (0, 0, 0.5)  # 1.0 - 3 x 0.25 < 0.5
