"""answer --context: a file's name, or the text itself, never an OSError."""
from nlpcli.tasks.answer import read_context


def test_a_file_is_read_and_anything_else_is_the_text(tmp_path):
    article = tmp_path / "article.txt"
    article.write_text("\ufeffAnna lives in Rome .", encoding="utf-8")
    assert read_context(str(article)) == "Anna lives in Rome ."
    paragraph = "The Eiffel Tower was completed in 1889 in Paris. " * 8  # 400 characters: too long for a file name
    assert read_context(paragraph) == paragraph
    assert read_context("a\0b") == "a\0b"
    assert read_context(str(tmp_path)) == str(tmp_path)  # a folder is no file to read


def test_one_word_that_looks_like_a_missing_file_gets_a_warning(tmp_path):
    warnings = []
    missing = str(tmp_path / "artcle.txt")
    assert read_context(missing, warnings.append) == missing
    assert read_context("Anna lives in Rome .", warnings.append) == "Anna lives in Rome ."
    assert warnings == [f"--context {missing}: no such file; answering from these words as the context"]
