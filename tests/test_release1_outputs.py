"""Release 1 (the shipped checkpoints, whose config.json predates every opt-in
model feature) loads with those features off and gives exactly the outputs it
gave before they existed. The expected values were printed by the unmodified
code of commit afefae5."""
import pytest
import torch

from nlpcli.checkpoint import load_checkpoint
from nlpcli.decoding import Constraints, GenerationSettings

CONTEXT = "The Eiffel Tower was completed in 1889 in Paris. It was designed by the company of Gustave Eiffel."
EXPECTED = {
    "nlpcli-base/translate": [["Ein Mann fährt auf einem Fahrrad die Straße entlang.", -2.0651],
                              ["Zwei Hunde spielen im Schnee.", -0.5469]],
    "translate-en-de/translate": [["Ein Mann fährt auf einem Fahrrad die Straße entlang.", -1.9165],
                                  ["Zwei Hunde spielen im Schnee.", -0.5038]],
    "summarize": [["u.k. interest rates inflation rates, citing", -17.1388], ["u.s. corp <dds> sets record", -23.4247]],
    "answer": [["1889", 34, 38, 0.3846], ["Gustave", 83, 90, 0.0876]],
    "sentiment": [["negative", 0.9939], ["positive", 0.6315]],
    "entities": [["Apple", "ORG", 0, 5, 0.9129], ["U.K.", "LOC", 27, 31, 0.9145], ["Tim Cook", "ORG", 56, 64, 0.5123],
                 ["Reuters", "ORG", 70, 77, 0.9725], ["Cupertino", "MISC", 81, 90, 0.0032]],
}


@pytest.fixture(scope="module")
def release1():
    torch.set_num_threads(1)
    return load_checkpoint("checkpoints/nlpcli-base")


@pytest.mark.parametrize("name", ["nlpcli-base", "translate-en-de"])
def test_release1_translates_as_before(name):
    from nlpcli.tasks.translate import Translator

    loaded = load_checkpoint(f"checkpoints/{name}")
    results, _ = Translator(loaded.model, loaded.tokenizer).translate(
        ["A man is riding a bicycle down the street.", "Two dogs play in the snow."], "de", GenerationSettings(beam=4))
    assert [[h.text, round(h.score, 4)] for h, in results] == EXPECTED[f"{name}/translate"]


def test_release1_serves_every_task_as_before(release1):
    from nlpcli.tasks.answer import QuestionAnswerer
    from nlpcli.tasks.entities import EntityTagger
    from nlpcli.tasks.sentiment import SentimentClassifier
    from nlpcli.tasks.summarize import Summarizer

    model, tok = release1.model, release1.tokenizer
    summaries, _ = Summarizer(model, tok).summarize(
        ["The central bank raised interest rates by half a point on Tuesday, citing inflation in Britain.",
         "Shares of Siemens rose 5 percent after the company reported record profit."],
        GenerationSettings(beam=4, max_len=48, constraints=Constraints(no_repeat_ngram=3)))
    assert [[s.text, round(s.score, 4)] for s in summaries] == EXPECTED["summarize"]
    answers = QuestionAnswerer(model, tok).answer([("When was the Eiffel Tower completed?", CONTEXT), ("Who designed it?", CONTEXT)])
    assert [[a.text, a.start, a.end, a.score] for a in answers] == EXPECTED["answer"]
    labels, _ = SentimentClassifier(model, tok).classify(["Not bad at all.", "An absolute joy, I laughed from start to finish."])
    assert [[s.label, s.score] for s in labels] == EXPECTED["sentiment"]
    entities, _, _ = EntityTagger(model, tok).tag_texts(
        ["Apple is looking at buying U.K. startup for $1 billion, Tim Cook told Reuters in Cupertino on Monday."])
    assert [[e.text, e.type, e.start, e.end, e.score] for e in entities[0]] == EXPECTED["entities"]
