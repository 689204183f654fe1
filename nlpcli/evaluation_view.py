"""How an evaluation report is shown: plain text (a pipe, a file), a rich table
(a terminal); ``--json`` prints the report itself."""
from __future__ import annotations

import json

LABELS = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "exact_match": "EM", "f1": "F1",
          "accuracy": "accuracy", "macro_f1": "macro-F1", "precision": "P", "recall": "R",
          "token_accuracy": "token accuracy", "bleu": "BLEU", "chrf": "chrF"}


def with_interval(value: float, interval: dict | None) -> str:
    if not interval:
        return f"{value}"
    return f"{value} (μ = {interval['mean']:.2f} ± {interval['ci']:.2f}, 95% CI {interval['low']:.2f}-{interval['high']:.2f})"


def single_lines(report: dict, figures: tuple[str, ...], unit: str) -> list[str]:
    """``name = value`` lines led by the signature (the format of release 1, intervals added)."""
    intervals = report.get("confidence", {})
    lines = [report["signature"].format()]
    if "per_type" in report:  # entities: conlleval's overall line, then one line per type
        lines.append(f"overall precision = {report['precision']} recall = {report['recall']} f1 = {report['f1']} "
                     f"(token accuracy {report['token_accuracy']}, {report['phrases_gold']} gold / "
                     f"{report['phrases_predicted']} predicted phrases)")
        lines += [f"{kind:>8} precision = {s['precision']} recall = {s['recall']} f1 = {s['f1']} ({s['predicted']} predicted)"
                  for kind, s in report["per_type"].items()]
        lines += [f"{name} = {with_interval(report[name], intervals[name])}" for name in figures if name in intervals]
        return lines
    lines += [f"{name} = {with_interval(report[name], intervals.get(name))}" for name in figures]
    lines.append(f"{unit} = {report[unit]}")
    return lines


def comparison_cells(row: dict, name: str) -> str:
    cell = f"{row[name]:.2f}"
    if name in row.get("difference", {}):
        p = row["p_value"][name]
        cell += f" ({row['difference'][name]:+.2f}, p = {p:.4f}{'*' if p < 0.05 else ''})"
    if name in row.get("confidence", {}):
        interval = row["confidence"][name]
        cell += f" [μ {interval['mean']:.2f} ± {interval['ci']:.2f}]"
    return cell


def comparison_heading(report: dict) -> str:
    test = report["test"]
    return (f"{test['name']}, {test['n']} {'resamples' if 'bootstrap' in test['name'] else 'trials'}, seed {test['seed']}: "
            f"each system against the baseline {test['baseline']} (difference, p-value; * p < 0.05)")


def comparison_lines(report: dict, figures: tuple[str, ...]) -> list[str]:
    header = ["system", *(LABELS.get(name, name) for name in figures)]
    rows = [[row["system"] + (" (baseline)" if row.get("baseline") else ""),
             *(comparison_cells(row, name) for name in figures)] for row in report["systems"]]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *rows]]
    return [report["signature"].format(), comparison_heading(report), *table]


def extra_lines(report: dict, ranking: str) -> list[str]:
    lines = []
    if "worst" in report:
        lines.append(f"lowest records by {ranking}:")
        lines += ["  " + json.dumps(row, ensure_ascii=False) for row in report["worst"]]
    if "calibration" in report:
        calibration = report["calibration"]
        lines.append(f"ECE = {calibration['ece']} ({len(calibration['bins'])} bins, {calibration['predictions']} predictions)")
        lines += [f"  ({b['low']:.2f}, {b['high']:.2f}]  {b['count']:>6} predictions  confidence {b['confidence']:.4f}  "
                  f"accuracy {b['accuracy']:.4f}" for b in calibration["bins"] if b["count"]]
        if "plot" in calibration:
            lines.append(f"reliability diagram: {calibration['plot']}")
    return lines


def render_text(report: dict, figures: tuple[str, ...], unit: str, ranking: str) -> str:
    lines = comparison_lines(report, figures) if "systems" in report else single_lines(report, figures, unit)
    return "\n".join(lines + extra_lines(report, ranking))


def print_table(report: dict, figures: tuple[str, ...], unit: str, ranking: str) -> None:
    """The same report as a rich table, for a terminal."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if "systems" in report:
        table = Table(title=comparison_heading(report))
        table.add_column("system")
        for name in figures:
            table.add_column(LABELS.get(name, name), justify="right")
        for row in report["systems"]:
            table.add_row(row["system"] + (" (baseline)" if row.get("baseline") else ""),
                          *(comparison_cells(row, name) for name in figures))
    else:
        intervals = report.get("confidence", {})
        table = Table()
        table.add_column("metric")
        table.add_column("score", justify="right")
        if intervals:
            table.add_column("bootstrap mean ± 95% CI", justify="right")
            table.add_column("interval", justify="right")
        for name in figures:
            cells = [LABELS.get(name, name), f"{report[name]:.2f}"]
            if intervals:
                interval = intervals[name]
                cells += [f"{interval['mean']:.2f} ± {interval['ci']:.2f}", f"{interval['low']:.2f}-{interval['high']:.2f}"]
            table.add_row(*cells)
        table.add_row(unit, str(report[unit]), *([""] * (2 if intervals else 0)))
        for kind, scores in report.get("per_type", report.get("per_label", {})).items():
            table.add_row(f"  {kind} F1", f"{scores['f1']:.2f}", *([""] * (2 if intervals else 0)))
    console.print(table)
    console.print(report["signature"].format(), markup=False, soft_wrap=True)
    for line in extra_lines(report, ranking):
        console.print(line, markup=False, soft_wrap=True)
