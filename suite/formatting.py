"""Numbers as people read them (accuracies in %, p-values to 3 significant figures) and tables as text formats."""

import json
import math

import pandas as pd
from rich.table import Table

FORMATS = ("table", "markdown", "csv", "latex", "json")


def fmt(metric: str, value: float) -> str:
    """Accuracies as percentages (as the reports give them), seconds and MB with sensible precision."""
    if value != value:  # NaN: a std over one round
        return "–"
    if metric.endswith("accuracy"):
        return f"{100 * value:.2f}"
    if "seconds" in metric or metric.endswith("_mb"):
        return f"{value:.2f}"
    if metric == "epochs":
        return f"{value:g}"
    return f"{value:.4f}"


def unit(metric: str) -> str:
    return " (%)" if metric.endswith("accuracy") else ""


def fmt_p(p: float) -> str:
    if p != p:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_interval(metric: str, low: float, high: float) -> str:
    return "–" if low != low else f"[{fmt(metric, low)}, {fmt(metric, high)}]"


def comparison_display(table: pd.DataFrame, metric: str, commands: bool = False) -> pd.DataFrame:
    """The comparison table (suite.compare.comparison_table) as strings, one column per quantity people read;
    with `commands`, last the command that reproduces each row."""
    rows = []
    first = "start" if table.attrs.get("versus") == "previous" else "reference"
    for index, row in enumerate(table.to_dict("records")):
        compared = "difference" in row and row["difference"] == row["difference"]
        diff = (f"{'+' if row['difference'] >= 0 else ''}{fmt(metric, row['difference'])} "
                f"{fmt_interval(metric, row['diff_low'], row['diff_high'])}") if compared else (
            first if index == 0 else "–")
        rows.append({
            "id": str(row["experiment"]), "experiment": row["label"], "n": str(row["n"]),
            f"mean ± std{unit(metric)}": f"{fmt(metric, row['mean'])} ± {fmt(metric, row['std'])}",
            "median": fmt(metric, row["median"]),
            "95% CI (t)": fmt_interval(metric, row["t_low"], row["t_high"]),
            "95% CI (bootstrap)": fmt_interval(metric, row["boot_low"], row["boot_high"]),
            "Δ mean [95% CI]": diff,
            "tests": f"{row['t_test']} / {row['rank_test']}" if compared else "",
            "p": f"{fmt_p(row['p_t'])} / {fmt_p(row['p_rank'])}" if compared else "",
            "p (Holm)": f"{fmt_p(row['p_t_holm'])} / {fmt_p(row['p_rank_holm'])}" if compared else "",
            "Hedges' g": "–" if not compared or row["hedges_g"] != row["hedges_g"] else f"{row['hedges_g']:+.2f}",
            "P(better)": "–" if not compared or row["p_improvement"] != row["p_improvement"]
            else f"{row['p_improvement']:.2f}",
        } | ({"command": f"`{row['command']}`" if row.get("command") else "–"} if commands else {}))
    return pd.DataFrame(rows)


def sweep_display(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A sweep's cells (suite.sweep.sweep_table), best first, as strings."""
    rows = []
    for rank, row in enumerate(table.to_dict("records"), start=1):
        versus = "best" if row["best"] else (f"{'+' if row['difference'] >= 0 else ''}{fmt(metric, row['difference'])} "
                                             f"{fmt_interval(metric, row['diff_low'], row['diff_high'])}")
        rows.append({"rank": str(rank), "id": str(row["experiment"]), "cell": row["label"], "n": str(row["n"]),
                     f"mean ± std{unit(metric)}": f"{fmt(metric, row['mean'])} ± {fmt(metric, row['std'])}",
                     "95% CI (t)": fmt_interval(metric, row["t_low"], row["t_high"]),
                     "Δ vs best [95% CI]": versus,
                     "p (Holm)": "" if row["best"] else fmt_p(row["p_t_holm"]),
                     "≈ best": "yes" if row["not_worse"] else ""})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown; text columns left-aligned, the others right-aligned; pipes escaped."""
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    numeric = [_numeric_looking(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _numeric_looking(column: pd.Series) -> bool:
    text = column.astype(str).str.replace(r"[\s±%\[\],+\-–<.]", "", regex=True)
    return bool(len(column)) and text.str.isdigit().all()


def rich_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="right" if _numeric_looking(frame[column]) else "left", overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def render(table: pd.DataFrame, metric: str, fmt_name: str, title: str):
    """The comparison in one of FORMATS: a rich Table for "table", text otherwise. csv and json keep raw numbers
    (fractions, not %), so that other tools can compute with them."""
    if fmt_name == "table":
        return rich_table(comparison_display(table, metric), title)
    if fmt_name == "markdown":
        return f"**{title}**\n\n" + markdown_table(comparison_display(table, metric, commands=True))
    if fmt_name == "latex":
        return comparison_display(table, metric).to_latex(index=False, caption=title, label="tab:comparison",
                                                          escape=True)
    if fmt_name == "csv":
        return table.assign(metric=metric).to_csv(index=False)
    raw = table.assign(metric=metric)
    raw = raw.astype(object).where(raw.notna(), None)
    return json.dumps({"title": title, "metric": metric, "rows": raw.to_dict("records")}, indent=2,
                      default=_json_number)


def _json_number(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else str(value)
