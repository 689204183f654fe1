"""Smoke test of the checkpoint that ships in the repo."""
import json
import subprocess
import sys

from nlpcli.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from nlpcli.decoding import GenerationSettings
from nlpcli.tasks.translate import Translator


def test_shipped_checkpoint_translates_both_directions():
    loaded = load_checkpoint(DEFAULT_CHECKPOINT)
    assert loaded.info.tasks["translate"]["directions"] == ["en-de", "de-en"]
    translator = Translator(loaded.model, loaded.tokenizer)
    settings = GenerationSettings(beam=2)
    german, _ = translator.translate(["A man is riding a bicycle.", "", "Two dogs are playing in the snow."], "de", settings)
    assert "Mann" in german[0][0].text and "Fahrrad" in german[0][0].text
    assert german[1] == []
    assert "Hunde" in german[2][0].text and "Schnee" in german[2][0].text
    english, _ = translator.translate(["Eine Frau liest ein Buch."], "en", settings)
    assert "woman" in english[0][0].text and "book" in english[0][0].text


def test_shipped_checkpoint_is_small_and_described():
    size = sum(f.stat().st_size for f in DEFAULT_CHECKPOINT.iterdir())
    assert size < 60 * 2**20
    info = subprocess.run([sys.executable, "-m", "nlpcli", "info", "--json"], capture_output=True, check=True)
    details = json.loads(info.stdout)
    assert details["evaluation"]["multi30k-val.en-de"]["bleu"] >= 0
    assert (DEFAULT_CHECKPOINT / "README.md").read_text().count("BLEU") >= 2
    # the recorded scores are those of a working model on the full dev sets, and the model card quotes them
    scores, card = details["evaluation"], (DEFAULT_CHECKPOINT / "README.md").read_text()
    for direction in ("en-de", "de-en"):
        multi30k = scores[f"multi30k-val.{direction}"]
        assert multi30k["sentences"] == 1014 and multi30k["beam"] == 4 and multi30k["bleu"] > 30
        assert f"**{multi30k['bleu']}**" in card
    assert scores["sst2-dev"]["examples"] == 872 and scores["sst2-dev"]["accuracy"] > 75
    assert scores["conll2003-dev"]["phrases_gold"] == 5942 and scores["conll2003-dev"]["f1"] > 70
    assert f"F1 {scores['conll2003-dev']['f1']}" in card
    assert scores["reuters-headlines-dev"]["rouge1"] > scores["reuters-headlines-dev"]["lead_sentence"]["rouge1"]
    assert 0 < scores["squad-dev"]["exact_match"] <= scores["squad-dev"]["f1"] < 100
    # release 2: 11.2 M parameters, stored once each in fp16: the weights file is two bytes a parameter (plus its header)
    parameters = details["parameters"]
    assert parameters == load_checkpoint(DEFAULT_CHECKPOINT).model.num_parameters() and 10.5e6 < parameters < 12e6
    assert details["dtype"] == "float16"
    assert 2 * parameters < (DEFAULT_CHECKPOINT / "model.safetensors").stat().st_size < 2 * parameters * 1.01


def run(*args: str, stdin: str = "") -> list[str]:
    result = subprocess.run([sys.executable, "-m", "nlpcli", *args], input=stdin.encode(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().splitlines()


def test_every_command_runs_once_on_the_shipped_checkpoint():
    details = json.loads(subprocess.run([sys.executable, "-m", "nlpcli", "info", "--json"], capture_output=True, check=True).stdout)
    assert set(details["tasks"]) == {"translate", "summarize", "answer", "classify-sentiment", "tag-entities"}
    summary = run("summarize", stdin="The company said on Tuesday that its quarterly profit rose 20 percent.\n\n")
    assert len(summary) == 2 and summary[0] and summary[1] == ""
    context = "The Eiffel Tower was completed in 1889 in Paris. It was designed by the company of Gustave Eiffel."
    [answer] = run("answer", "--context", context, "When was the Eiffel Tower completed?")
    assert answer and answer in context
    labels = run("classify-sentiment", stdin="A wonderful, moving film.\nA dull and boring mess.\n")
    assert [line.split("\t")[0] for line in labels] == ["positive", "negative"]
    [tagged] = run("tag-entities", "Angela Merkel visited Paris with officials from Siemens.")
    assert "[LOC Paris]" in tagged and tagged.replace("[LOC ", "").replace("[ORG ", "").replace("[PER ", "").replace(
        "[MISC ", "").replace("]", "") == "Angela Merkel visited Paris with officials from Siemens."
