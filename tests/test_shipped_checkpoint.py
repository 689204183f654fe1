"""Smoke test of the checkpoint that ships in the repo."""
import json
import subprocess
import sys

from nlpcli.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from nlpcli.decoding import GenerationSettings
from nlpcli.translate import Translator


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
