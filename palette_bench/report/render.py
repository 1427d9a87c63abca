"""A Table as CSV (the numbers), Markdown and LaTeX (the paper's layout: value [95% interval], best in bold).

The LaTeX of a table is a fragment (a `table` float with booktabs rules) meant for \\input; all.tex
wraps every fragment in a document that compiles with pdflatex and no package but booktabs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from palette_bench.compare import HIGHER_IS_BETTER
from palette_bench.report.best import SIGNIFICANT
from palette_bench.report.tables import HEADERS, SEED_ROW, Table, column

LATEX_CHARS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
LATEX_UNICODE = {"±": r"$\pm$", "†": r"$^\dagger$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "…": r"\ldots{}", "×": r"$\times$", "–": "--", "—": "---"}


def latex_escape(text: str) -> str:
    """Plain text as LaTeX: special characters escaped, the few symbols the tables use as math."""
    return "".join(LATEX_CHARS.get(ch, LATEX_UNICODE.get(ch, ch)) for ch in str(text))


@dataclass(frozen=True)
class Style:
    bold: Callable[[str], str]
    escape: Callable[[str], str]
    dagger: str
    pm: str


MARKDOWN = Style(bold=lambda s: f"**{s}**", escape=lambda s: str(s).replace("|", "\\|"), dagger="†", pm="±")
LATEX = Style(bold=lambda s: f"\\textbf{{{s}}}", escape=latex_escape, dagger=r"$^\dagger$", pm=r"$\pm$")


def decimals(values: pd.Series) -> int:
    """Decimals that give the column's smallest value three significant digits (1 to 6): judge FIDs are far below 1."""
    v = np.abs(values.to_numpy(dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    return 2 if not len(v) else int(np.clip(2 - np.floor(np.log10(v.min())), 1, 6))


def _metric_cell(r, c: str, d: int, style: Style) -> str:
    value = r[c]
    if pd.isna(value):
        return ""
    text = f"{value:.{d}f}"
    if r[f"{c}_best"]:
        text = style.bold(text) + (style.dagger if r[f"{c}_sig"] == SIGNIFICANT else "")
    if not pd.isna(r[f"{c}_sd"]):
        text += f" {style.pm} {r[f'{c}_sd']:.{d}f}"
    elif not (pd.isna(r[f"{c}_lo"]) or pd.isna(r[f"{c}_hi"])):
        text += f" [{r[f'{c}_lo']:.{d}f}, {r[f'{c}_hi']:.{d}f}]"
    return text


def parameters(count) -> str:
    if pd.isna(count):
        return ""
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.1f}k"


def display(table: Table, style: Style, arrows: tuple[str, str]) -> pd.DataFrame:
    """The shown table: row names, then one formatted cell per metric, headers with the better direction."""
    f = table.frame
    cols = {
        style.escape("eval set"): [style.escape(v) for v in f["eval_set"]],
        style.escape(table.label): [style.escape(v) for v in f["variant"]],
        style.escape("seed"): [style.escape(str(s) if r == SEED_ROW else r) for s, r in zip(f["seed"], f["row"])],
    }
    def shown(name, v):
        return parameters(v) if name == "parameters" else "" if pd.isna(v) else style.escape(v)

    for name in table.extra:
        cols[style.escape(name)] = [shown(name, v) for v in f[name]]
    for m in table.metrics:
        c = column(m)
        d = decimals(f[c])
        header = f"{style.escape(HEADERS[m])} {arrows[0] if m in HIGHER_IS_BETTER else arrows[1]}"
        cols[header] = [_metric_cell(r, c, d, style) for _, r in f.iterrows()]
    for name in table.trailing:
        cols[style.escape(name)] = [shown(name, v) for v in f[name]]
    return pd.DataFrame(cols)


def to_csv(table: Table) -> str:
    return table.frame.to_csv(index=False, lineterminator="\n")


def to_markdown(table: Table) -> str:
    shown = display(table, MARKDOWN, ("↑", "↓")).to_markdown(index=False, disable_numparse=True)
    parts = [f"### {table.title}", *(f"> {n}" for n in table.notes), shown, "\n".join(f"- {line}" for line in table.footer)]
    return "\n\n".join(parts) + "\n"


def to_latex(table: Table) -> str:
    """A table float: the booktabs tabular, a rule between evaluation sets, the footer under it."""
    shown = display(table, LATEX, (r"$\uparrow$", r"$\downarrow$"))
    labels = 3 + len(table.extra)
    tabular = shown.to_latex(index=False, escape=False, column_format="l" * labels + "r" * len(table.metrics) + "l" * len(table.trailing))
    lines = tabular.splitlines()
    body = lines.index(r"\midrule") + 1
    sets = list(table.frame["eval_set"])
    for i in reversed(range(1, len(sets))):  # from the end, so the earlier line numbers hold
        if sets[i] != sets[i - 1]:
            lines.insert(body + i, r"\midrule")
    notes = [latex_escape(n) for n in table.notes] + [latex_escape(line) for line in table.footer]
    return "\n".join(
        [
            f"% {table.stem}: written by palette-bench report",
            r"\begin{table}[htbp]",
            r"\centering",
            r"\scriptsize",
            r"\setlength{\tabcolsep}{3pt}",
            f"\\caption{{{latex_escape(table.title)}}}",
            *lines,
            r"\par\smallskip",
            # \par, not \\, between lines: \\ would read a line starting with "[" as its optional argument
            r"\parbox{\linewidth}{\raggedright " + "\\par\n".join(notes) + "}",
            r"\end{table}",
            "",
        ]
    )


def latex_document(stems: list[str]) -> str:
    """all.tex: every table fragment on landscape A4 pages; pdflatex with booktabs only."""
    return "\n".join(
        [
            r"\documentclass[a4paper,landscape,10pt]{article}",
            r"\usepackage{booktabs}",
            r"\pdfpagewidth=\paperwidth",
            r"\pdfpageheight=\paperheight",
            r"\setlength{\textwidth}{25.7cm}",
            r"\setlength{\textheight}{17.5cm}",
            r"\setlength{\oddsidemargin}{-0.5cm}",
            r"\setlength{\topmargin}{-1.5cm}",
            r"\begin{document}",
            *(f"\\input{{{stem}}}\n\\clearpage" for stem in stems),
            r"\end{document}",
            "",
        ]
    )
