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
