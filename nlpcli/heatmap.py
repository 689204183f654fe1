"""Attention heatmaps: drawn on stderr with rich, or written as JSON, HTML,
PNG or SVG files.

Terminal heatmaps fit 80 columns: each key token is a two-character cell,
shaded by its weight relative to the largest weight in the map (░▒▓█, and
colour where the terminal has it); a map with more columns than fit is folded
into several panels, and the column tokens are listed under each panel.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from nlpcli.attention_maps import AttentionMap
from nlpcli.errors import InputError

SHADES = " ░▒▓█"
LABEL_WIDTH = 14


def shade(weight: float, top: float) -> str:
    level = 0 if top <= 0 else min(len(SHADES) - 1, round(weight / top * (len(SHADES) - 1)))
    return SHADES[level] * 2


def render_text(title: str, matrix, rows: list[str], columns: list[str], width: int = 80) -> list[tuple[str, list[float]]]:
    """Lines of the heatmap, each with the weights of its cells (for colouring)."""
    if not rows or not columns:
        return [(f"{title}: (no tokens)", [])]
    top = float(matrix.max())
    per_panel = max(1, (width - LABEL_WIDTH - 1) // 2)
    lines = [(title, [])]
    for first in range(0, len(columns), per_panel):
        last = min(len(columns), first + per_panel)
        numbers = "".join(f"{i % 100:<2}" if i % 5 == 0 else "  " for i in range(first, last))
        lines.append((" " * LABEL_WIDTH + " " + numbers, []))
        for r, label in enumerate(rows):
            cells = [float(matrix[r, c]) for c in range(first, last)]
            lines.append((f"{_fit(label, LABEL_WIDTH)} " + "".join(shade(w, top) for w in cells), cells))
        legend = "  ".join(f"{c}:{columns[c]}" for c in range(first, last))
        lines += [(part, []) for part in _wrap("columns " + legend, width)]
    return lines


def _fit(label: str, width: int) -> str:
    return (label if len(label) <= width else label[: width - 1] + "…").rjust(width)


def _wrap(text: str, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split("  "):
        if line and len(line) + 2 + len(word) > width:
            out.append(line)
            line = "  " + word
        else:
            line = f"{line}  {word}" if line else word
    return out + [line]


def draw(console, title: str, matrix, rows: list[str], columns: list[str]) -> None:
    """Print one heatmap on the (stderr) console, coloured when it has colour."""
    from rich.text import Text

    top = float(matrix.max()) if rows and columns else 0.0
    for line, cells in render_text(title, matrix, rows, columns, min(console.width, 80)):
        text = Text(line)
        if cells and console.color_system:
            start = LABEL_WIDTH + 1
            for i, weight in enumerate(cells):
                level = 0 if top <= 0 else weight / top
                blue = int(255 - 200 * level)
                text.stylize(f"rgb({blue},{blue},255)", start + 2 * i, start + 2 * i + 2)
        console.print(text, highlight=False, soft_wrap=True)


def html_table(title: str, matrix, rows: list[str], columns: list[str]) -> str:
    """A self-contained table; hovering a cell shows its tokens and weight."""
    top = float(matrix.max()) if rows and columns else 1.0
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r, label in enumerate(rows):
        cells = []
        for c, column in enumerate(columns):
            w = float(matrix[r, c])
            level = 0 if top <= 0 else w / top
            tip = html.escape(f"{label} → {column}: {w:.4f}", quote=True)
            cells.append(f'<td title="{tip}" style="background: rgba(30,60,200,{level:.3f})"></td>')
        body.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    return f"<h2>{html.escape(title)}</h2><table><tr><th></th>{head}</tr>{''.join(body)}</table>"


HTML_HEAD = """<!doctype html><meta charset="utf-8"><title>nlpcli attention</title>
<style>body{font-family:sans-serif} table{border-collapse:collapse;margin-bottom:2em}
td{width:1.4em;height:1.4em;border:1px solid #eee} th{font-weight:normal;font-size:small;padding:2px}
tr:first-child th{writing-mode:vertical-rl}</style>
"""


class AttentionReporter:
    """Shows and/or writes the attention map of each record.

    ``out``: a .json, .html, .png or .svg path. With ``{i}`` in it, one file per
    record (i = record number, from 1); without, one file for all records (JSON:
    a list, HTML: one page), except PNG/SVG, which get one file per record
    named ``stem-i.suffix``.
    """

    def __init__(self, console=None, out: str | None = None, layer: str = "last", head: str = "mean", words: bool = False) -> None:
        self.console, self.layer, self.head, self.words = console, layer, head, words
        self.out = out
        self.suffix = Path(out).suffix.lower() if out else ""
        if out and self.suffix not in (".json", ".html", ".png", ".svg"):
            raise InputError(f"--attention-out {out}: the file name must end in .json, .html, .png or .svg")
        if out and "{i}" not in out and Path(out).is_dir():
            raise InputError(f"--attention-out {out}: it is a folder; give a file name")
        if self.suffix in (".png", ".svg"):
            _pyplot()  # fail now, not after the first record
        self.per_record = bool(out) and ("{i}" in out or self.suffix in (".png", ".svg"))
        self.stream = None
        self.count = 0

    def report(self, number: int, source: str, attention: AttentionMap | None) -> None:
        if attention is None:
            return
        shown = attention.words() if self.words else attention
        matrices = shown.select(self.layer, self.head)
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text.assemble((f"record {number}", "bold"), f": {source[:60]}"), highlight=False)
            for title, matrix in matrices:
                draw(self.console, title, matrix, shown.rows, shown.columns)
        if self.out:
            self.write(number, shown, matrices)

    def write(self, number: int, shown: AttentionMap, matrices) -> None:
        if self.suffix in (".png", ".svg"):
            write_image(self.path_for(number), matrices, shown.rows, shown.columns)
        elif self.per_record:
            path = self.path_for(number)
            content = json.dumps({"record": number, **shown.to_json()}) if self.suffix == ".json" else \
                HTML_HEAD + "".join(html_table(t, m, shown.rows, shown.columns) for t, m in matrices)
            _write(path, content)
        else:
            if self.stream is None:
                self.stream = _open(Path(self.out))
                self.stream.write("[\n" if self.suffix == ".json" else HTML_HEAD)
            if self.suffix == ".json":
                self.stream.write((",\n" if self.count else "") + json.dumps({"record": number, **shown.to_json()}))
            else:
                self.stream.write(f"<h1>record {number}</h1>" + "".join(html_table(t, m, shown.rows, shown.columns) for t, m in matrices))
        self.count += 1

    def path_for(self, number: int) -> Path:
        if "{i}" in self.out:
            return Path(self.out.replace("{i}", str(number)))
        path = Path(self.out)
        return path.with_name(f"{path.stem}-{number}{path.suffix}")

    def __enter__(self) -> "AttentionReporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n]\n" if self.suffix == ".json" else "\n")
            self.stream.close()
        elif self.out and not self.per_record:  # no record had attention: still leave a valid file
            _write(Path(self.out), "[]\n" if self.suffix == ".json" else HTML_HEAD)


def _open(path: Path):
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    return open(path, "w", encoding="utf-8")


def _write(path: Path, content: str) -> None:
    with _open(path) as handle:
        handle.write(content)


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("PNG and SVG heatmaps need matplotlib: pip install 'nlpcli[plot]' (or write .json / .html)") from None
    return plt


def write_image(path: Path, matrices, rows: list[str], columns: list[str]) -> None:
    plt = _pyplot()
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    figure, axes = plt.subplots(len(matrices), 1, squeeze=False,
                                figsize=(max(4, 0.35 * len(columns) + 2), max(3, (0.35 * len(rows) + 1.5) * len(matrices))))
    for ax, (title, matrix) in zip(axes[:, 0], matrices):
        ax.imshow(matrix.numpy() if len(rows) and len(columns) else [[0]], cmap="Blues", aspect="auto", vmin=0)
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=8)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
