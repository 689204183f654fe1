"""``nlpcli evaluate <task>``: score system output against references."""
from __future__ import annotations

from nlpcli.errors import InputError
from nlpcli.metrics import translation_report
from nlpcli.textio import input_name, open_input, read_records


def read_all_lines(path: str | None) -> list[str]:
    """Every line of a file (or stdin for '-'), with errors naming file and line."""
    stream = open_input(path)
    try:
        return [record.text for record in read_records(stream, input_name(path))]
    finally:
        if path not in (None, "-"):
            stream.close()


def check_parallel(hypotheses: list[str], hyp_path: str, references: dict[str, list[str]]) -> None:
    if not hypotheses:
        raise InputError(f"hypothesis file {hyp_path} is empty")
    for ref_path, lines in references.items():
        if len(lines) != len(hypotheses):
            raise InputError(
                f"hypothesis {hyp_path} has {len(hypotheses)} lines but reference {ref_path} has {len(lines)}"
            )


def evaluate_translation(hyp_path: str, ref_paths: list[str], metrics: list[str], as_json: bool = False) -> str:
    unknown = [m for m in metrics if m not in ("bleu", "chrf", "ter")]
    if unknown:
        raise InputError(f"unknown translation metric(s) {', '.join(unknown)}; choose from bleu, chrf, ter")
    hypotheses = read_all_lines(hyp_path)
    references = {path: read_all_lines(path) for path in ref_paths}
    check_parallel(hypotheses, hyp_path, references)
    return translation_report(hypotheses, list(references.values()), metrics, as_json)
