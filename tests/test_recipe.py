import pytest

from nlpcli.errors import RecipeError
from nlpcli.training.recipe import DatasetSpec, load_recipe

BASE = """
name = "r"
[model]
d_model = 64
[train]
max_steps = 10
[[data.train]]
name = "toy"
path = "translate/toy/train"
languages = ["en", "de"]
directions = ["en-de", "de-en"]
"""


def write(tmp_path, text):
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def test_overrides_apply_with_toml_types(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE), ["train.max_steps=99", "model.dropout=0.3", "train.lr=1e-3"])
    assert recipe.train.max_steps == 99 and recipe.model.dropout == 0.3 and recipe.train.lr == 0.001
    assert recipe.languages == ["en", "de"] and recipe.directions == ["en-de", "de-en"]


def test_a_data_set_is_overridden_by_its_name(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE), ["data.train.toy.weight=0.25"])
    assert recipe.train_data[0].weight == 0.25
    with pytest.raises(RecipeError, match="no data set named nope"):
        load_recipe(write(tmp_path, BASE), ["data.train.nope.weight=1.0"])
    with pytest.raises(RecipeError, match="name the data set, e.g. data.train.NAME.weight"):
        load_recipe(write(tmp_path, BASE), ["data.train.weight=1.0"])


@pytest.mark.parametrize("text, message", [
    (BASE + "\n[optimizer]\nlr = 1\n", "unknown recipe key optimizer"),
    (BASE.replace("max_steps = 10", "max_stepz = 10"), "unknown recipe key train.max_stepz"),
    (BASE.replace("max_steps = 10", 'max_steps = "ten"'), "recipe key train.max_steps: expected int"),
    (BASE.replace('directions = ["en-de", "de-en"]', 'directions = ["en-fr"]'), "direction en-fr needs languages"),
    ('name = "r"\n', "no \\[\\[data.train\\]\\]"),
])
def test_bad_recipes_name_the_key(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(tmp_path, text))


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe(tmp_path / "nope.toml")


def test_mix_temperature_sets_shares_by_examples_per_epoch(tmp_path):
    from conftest import write_toy_recipe

    recipe = load_recipe(write_toy_recipe(tmp_path, steps=1))
    recipe.train_data.append(DatasetSpec("s", "s.jsonl", task="summarize", format="jsonl", fields=["a", "b"]))
    recipe.mix = {"translate": 1.0, "summarize": 3.0}
    sizes = {"translate": 100.0, "summarize": 10_000.0}
    assert recipe.task_shares(sizes) == {"translate": 0.25, "summarize": 0.75}  # [mix] without a temperature
    recipe.train.mix_temperature = 2.0
    shares = recipe.task_shares(sizes)
    assert shares["translate"] == pytest.approx(10 / 110) and shares["summarize"] == pytest.approx(100 / 110)
    recipe.train.mix_temperature = 1.0
    assert recipe.task_shares(sizes)["translate"] == pytest.approx(100 / 10_100)


def test_a_cooldown_takes_the_cooldown_mix_and_a_continuation_the_mix(tmp_path):
    from conftest import write_toy_recipe

    text = write_toy_recipe(tmp_path, steps=1).read_text() + "\n[cooldown_mix]\ntranslate = 1\nsummarize = 1\n"
    recipe = load_recipe(write(tmp_path, text))
    recipe.train_data.append(DatasetSpec("s", "s.jsonl", task="summarize", format="jsonl", fields=["a", "b"]))
    recipe.mix = {"translate": 1.0, "summarize": 3.0}
    assert recipe.task_shares() == {"translate": 0.25, "summarize": 0.75}
    assert recipe.task_shares(cooldown=True) == {"translate": 0.5, "summarize": 0.5}
    recipe.cooldown_mix = {}  # none in the recipe: a cooldown draws as the trunk did
    assert recipe.task_shares(cooldown=True) == {"translate": 0.25, "summarize": 0.75}
    with pytest.raises(RecipeError, match="unknown recipe key cooldown_mix.translation"):
        load_recipe(write(tmp_path, text + "translation = 1\n"))


def test_match_keeps_only_the_examples_whose_text_matches(tmp_path):
    (tmp_path / "sst.tsv").write_text("sentence\tlabel\nnot bad at all\t1\na joy\t1\ndull , but pretty\t0\nnothing new\t0\n")
    negations = DatasetSpec("neg", "sst.tsv", task="classify-sentiment", format="glue-tsv", fields=["sentence", "label"],
                            match=r"(^| )(not|nothing)( |$)| but ")
    assert [e["text"] for e in negations.load(tmp_path)] == ["not bad at all", "dull , but pretty", "nothing new"]
    # a translation pair is kept when either side matches
    (tmp_path / "p.en").write_text("a dog\na cat\n")
    (tmp_path / "p.de").write_text("ein Hund\neine Katze\n")
    pairs = DatasetSpec("p", "p", languages=["en", "de"], directions=["en-de"], match="Katze")
    assert pairs.load(tmp_path) == [{"en": "a cat", "de": "eine Katze"}]


def test_a_bad_match_pattern_names_the_data_set(tmp_path):
    text = BASE.replace('directions = ["en-de", "de-en"]', 'directions = ["en-de", "de-en"]\nmatch = "(not"')
    with pytest.raises(RecipeError, match="data set 'toy': match '\\(not' is not a regular expression"):
        load_recipe(write(tmp_path, text))
