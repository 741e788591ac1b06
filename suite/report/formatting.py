"""Numbers as people read them (as each metric's declaration says; p-values to 3 decimals) and tables as text
formats."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from suite.core.metrics import Metric

if TYPE_CHECKING:  # pandas is imported where frames are built, so the command line can read FORMATS cheaply
    import pandas as pd

FORMATS = ("table", "markdown", "csv", "latex", "json")


def fmt_p(p: float) -> str:
    if p != p:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_interval(metric: Metric, low: float, high: float) -> str:
    return "–" if low != low else f"[{metric.show(low)}, {metric.show(high)}]"


def fmt_difference(metric: Metric, value: float) -> str:
    return f"{'+' if value >= 0 else ''}{metric.show(value)}"


def fmt_spread(metric: Metric, mean: float, std: float, n: int, rounds: int) -> str:
    """mean ± std; a single measurement of several rounds (a stacked group's time) is said to be one."""
    if n == 1 and rounds > 1:
        return f"{metric.show(mean)} (measured once for {rounds} stacked rounds)"
    spread = f"{metric.show(mean)} ± {metric.show(std)}"
    return spread if rounds <= n else f"{spread} ({rounds} stacked rounds)"


def fmt_n(n: int, rounds: int) -> str:
    """How many values: measurements of groups of stacked rounds say how many rounds they cover."""
    return str(n) if rounds <= n else f"{n} group{'s' if n > 1 else ''}"


def rounds_phrase(finished: int, diverged: int) -> str:
    """How many rounds stand behind a summary: "10 rounds", or "10 rounds: 9 finished, 1 diverged"."""
    if not diverged:
        return f"{finished} round{'s' if finished != 1 else ''}"
    return f"{finished + diverged} rounds: {finished} finished, {diverged} diverged"


def diverged_line(diverged: list[dict]) -> str:
    """The diverged rounds, named, and what the statistics do with them (docs/statistics.md)."""
    named = ", ".join(f"round {d['round_index'] + 1} (seed {d['seed']}) at epoch {int(d['epoch'] or 0)}"
                      for d in diverged)
    return (f"diverged (loss or outputs not finite): {named}; the statistics are of the finished rounds alone, "
            "and a rerun does not train them again")


def _number(value: float, digits: str) -> str:
    return "–" if value != value else format(value, digits)


def spread_header(metric: Metric) -> str:
    """The header of the mean ± std column, with the metric's unit."""
    return f"mean ± std{metric.unit_suffix}"


def comparison_display(table: pd.DataFrame, metric: Metric, commands: bool = False) -> pd.DataFrame:
    """The comparison table (suite.results.compare.comparison_table) as strings, one column per quantity people read;
    with `commands`, last the command that reproduces each row."""
    rows = []
    first = "start" if table.attrs.get("versus") == "previous" else "reference"
    for index, row in enumerate(table.to_dict("records")):
        compared = "difference" in row and row["difference"] == row["difference"]
        diff = (f"{fmt_difference(metric, row['difference'])} {fmt_interval(metric, row['diff_low'], row['diff_high'])}"
                if compared else (first if index == 0 else "–"))
        pairing = ""
        tested = compared and row["p_t"] == row["p_t"]
        if compared:
            pairing = (f"{int(row['n_paired'])} of {int(row['n_versus'])} / {int(row['n'])}" if row["paired"] else
                       "unpaired" if tested else "–")
        rows.append({
            "id": str(row["experiment"]), "experiment": row["label"],
            "n": fmt_n(row["n"], row["rounds"]) + (f" (+{row['diverged']} diverged)" if row.get("diverged") else ""),
            spread_header(metric): fmt_spread(metric, row["mean"], row["std"], row["n"], row["rounds"]),
            "median": metric.show(row["median"]),
            "95% CI (t)": fmt_interval(metric, row["t_low"], row["t_high"]),
            "Δ mean [95% CI]": diff,
            "paired rounds": pairing,
            "tests": f"{row['t_test']} / {row['rank_test']}" if tested else (
                "none: a single value" if compared else ""),
            "p": f"{fmt_p(row['p_t'])} / {fmt_p(row['p_rank'])}" if compared else "",
            "p (Holm)": f"{fmt_p(row['p_t_holm'])} / {fmt_p(row['p_rank_holm'])}" if compared else "",
            "Hedges' g": _number(row["hedges_g"], "+.2f") if compared else "–",
            "d_z": _number(row["d_z"], "+.2f") if compared else "–",
            "P(better)": _number(row["p_improvement"], ".2f") if compared else "–",
        } | ({"command": f"`{row['command']}`" if row.get("command") else "–"} if commands else {}))
    import pandas as pd

    return pd.DataFrame(rows)


def sweep_display(table: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """A sweep's cells (suite.results.sweeps.sweep_table), best first, as strings."""
    rows = []
    for rank, row in enumerate(table.to_dict("records"), start=1):
        n = str(row["n"]) + (f" (+{row['diverged']} diverged)" if row.get("diverged") else "")
        rows.append({"rank": str(rank), "id": str(row["experiment"]), "cell": row["label"], "n": n,
                     f"mean ± std{metric.unit_suffix}": f"{metric.show(row['mean'])} ± {metric.show(row['std'])}"
                     if row["n"] else "–",
                     "95% CI (t)": fmt_interval(metric, row["t_low"], row["t_high"]),
                     "Δ vs best": "best" if row["best"] else fmt_difference(metric, row["difference"]),
                     "p (worse, max-T)": "" if row["best"] else fmt_p(row["p_worse"]),
                     "≈ best": "yes" if row["not_worse"] else ("" if row["decided"] else "–")})
    import pandas as pd

    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame, escape=str) -> str:
    """GitHub-flavoured Markdown; text columns left-aligned, the others right-aligned; pipes escaped, and each cell
    and header passed through `escape` (the report's HTML escaping; aligned by the unescaped text)."""
    def cell(value) -> str:
        return escape(value).replace("|", "\\|").replace("\n", " ")

    numeric = [_numeric_looking(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _numeric_looking(column: pd.Series) -> bool:
    text = column.astype(str).str.replace(r"[\s±%\[\],+\-–<.]", "", regex=True)
    return bool(len(column)) and text.str.isdigit().all()


# Above this many rows a listing is printed as plain aligned text: rich lays a table out at about 3 ms a row, so
# thousands of experiments would take seconds.
PLAIN_ROWS = 200


def text_table(rows: list[list[str]], columns: list[str], title: str) -> str:
    """A table as plain aligned text (no wrapping: one line per row, for a pager or grep), numbers right-aligned."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    import pandas as pd

    numeric = [_numeric_looking(pd.Series([r[i] for r in rows], dtype=object)) for i in range(len(columns))]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True))

    return "\n".join([title, line(columns), line(["-" * w for w in widths]), *(line(r).rstrip() for r in rows)])


def rich_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="right" if _numeric_looking(frame[column]) else "left", overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


# tables that fit the terminal ------------------------------------------------------------------------------

# How many lines a row's cells may wrap onto, and how many tables keyed by the same ids cells on one line may take
# before wrapping them is preferred: a table and its continuation read more easily than rows of wrapped cells, but
# three or more tables are hard to read across.
ROW_LINES = 2
UNWRAPPED_TABLES = 2
_UNIT = re.compile(r"\[[^\]]*\]|± \S+|\S+")


def cell_units(text: str) -> list[str]:
    """The pieces a cell may wrap between: its words, except that an interval "[a, b]" and "± x" stay whole and a
    "/" stays with the value before it ("0.198 /" over "0.500"). Text whose spacing the pieces would not give back
    (several spaces, line breaks) stays one piece."""
    units: list[str] = []
    for piece in _UNIT.findall(text):
        if piece == "/" and units:
            units[-1] += " /"
        else:
            units.append(piece)
    return units if " ".join(units) == text else [text]


def wrap_units(units: list[str], width: int) -> list[str]:
    """Units packed greedily into lines of at most `width` cells; a unit wider than that gets a line of its own."""
    lines: list[str] = []
    for unit in units:
        if lines and cell_len(lines[-1]) + 1 + cell_len(unit) <= width:
            lines[-1] += " " + unit
        else:
            lines.append(unit)
    return lines


def table_width(widths: list[int]) -> int:
    """The printed width of a rich Table (box edges, separators, one cell of padding each side) of these columns."""
    return sum(widths) + 3 * len(widths) + 1


@dataclass
class FitColumn:
    """A column to lay out, and the widths it can take: `natural` (every cell and the header on one line),
    `short_header` (cells on one line, the header on at most ROW_LINES), `single` (cells on one line, the header
    folded at spaces), `two_line` (cells on at most ROW_LINES lines) and `compact` (its widest unbreakable piece)."""
    name: str
    cells: list[str]
    right: bool
    header: list[str] = field(init=False)
    units: list[list[str]] = field(init=False)
    natural: int = field(init=False)
    short_header: int = field(init=False)
    single: int = field(init=False)
    two_line: int = field(init=False)
    compact: int = field(init=False)

    def __post_init__(self):
        self.header = cell_units(self.name)
        self.units = [cell_units(c) for c in self.cells]
        widest = max((cell_len(c) for c in self.cells), default=0)
        self.natural = max(cell_len(self.name), widest)
        self.compact = max([1, *(cell_len(u) for units in [self.header, *self.units] for u in units)])
        self.single = max(widest, self.compact)
        self.two_line = next(w for w in range(self.compact, self.single + 1) if self.lines(w) <= ROW_LINES)
        self.short_header = next(w for w in range(self.single, self.natural + 1)
                                 if len(wrap_units(self.header, w)) <= ROW_LINES)

    def lines(self, width: int) -> int:
        """How many lines its tallest cell takes at this width."""
        return max((len(wrap_units(u, width)) for u in self.units), default=0)


@dataclass
class FittedTable:
    """A table that lays itself out when printed, at the console's width (which rich takes from the terminal or
    $COLUMNS, else 80): as it is while it fits; else with the experiment ids alone in the table and the full labels
    in a legend under it, the columns (by importance, related ones together) in as few tables as fit. Cells wrap
    only between whole numbers, intervals and words."""
    frame: pd.DataFrame
    title: str
    groups: list[tuple[str, ...]]  # the columns that belong together, most important first
    key: str = "id"
    label: str = "experiment"

    def __rich_console__(self, console, options):
        yield from fitted(self, options.max_width)


def fitted(table: FittedTable, width: int) -> list:
    """The renderables that show `table` within `width` cells: the table as it is where every cell fits on one line,
    else the layout with a legend (a label wrapped in its cell would be read as two, and be found by no search)."""
    frame = table.frame
    columns = [FitColumn(str(c), [str(v) for v in frame[c]], _numeric_looking(frame[c])) for c in frame.columns]
    widths = [c.natural for c in columns]
    if table_width(widths) <= width:
        return [_laid_out(columns, widths, table.title)]
    return _with_legend(table, [c for c in columns if c.name != table.label], width)


def _with_legend(table: FittedTable, columns: list[FitColumn], width: int) -> list:
    """The ids-only layout: the title, one table or several keyed by id, what was left out, and the legend."""
    empty = [c.name for c in columns if not any(c.cells) and c.name != table.key]
    columns = [c for c in columns if c.name not in empty]
    key = next(c for c in columns if c.name == table.key)
    tables = _split_into_tables(key, _grouped(columns, table.groups, key), width)
    order = {c.name: i for i, c in enumerate(columns)}
    shown: list = [Text(table.title, overflow="fold")]
    for index, part in enumerate(tables):
        part = sorted(part, key=lambda c: order[c.name])
        if index:
            shown.append(Text(f"continued: more columns of the same rows, by {table.key} (too many for one table in "
                              f"{width} columns)", overflow="fold"))
        shown.append(_laid_out(part, _widths(part, width), None))
    if empty:
        shown.append(Text(f"Left out, empty in every row: {', '.join(empty)}.", overflow="fold"))
    labels = dict(zip(table.frame[table.key].astype(str), table.frame[table.label].astype(str), strict=True))
    return [*shown, Text(_legend(labels, f"{table.label}, by {table.key}:", width), overflow="fold")]


def _grouped(columns: list[FitColumn], groups: list[tuple[str, ...]], key: FitColumn) -> list[list[FitColumn]]:
    """The columns other than the key in their groups, most important first; a column no group names comes last,
    alone, so that none is ever dropped."""
    by_name = {c.name: c for c in columns if c is not key}
    named = [[by_name.pop(n) for n in group if n in by_name] for group in groups]
    return [g for g in named if g] + [[c] for c in by_name.values()]


def _split_into_tables(key: FitColumn, groups: list[list[FitColumn]], width: int) -> list[list[FitColumn]]:
    """The columns packed into tables, each with the key column: by the widths at which cells stay on one line, or,
    where that takes more than UNWRAPPED_TABLES tables, by those at which they take up to ROW_LINES lines if that
    saves a table."""
    single = _packed(key, groups, width, lambda c: c.single)
    if len(single) <= UNWRAPPED_TABLES:
        return single
    wrapped = _packed(key, groups, width, lambda c: c.two_line)
    return wrapped if len(wrapped) < len(single) else single


def _packed(key: FitColumn, groups: list[list[FitColumn]], width: int, width_of) -> list[list[FitColumn]]:
    """Groups in order into the current table while it fits at `width_of` its columns, else into a new one; a group
    too wide for a table of its own is packed column by column."""
    def fits(columns: list[FitColumn]) -> bool:
        return table_width([width_of(c) for c in columns]) <= width

    tables: list[list[FitColumn]] = [[key]]
    for group in groups:
        for part in [group] if fits([key, *group]) else [[c] for c in group]:
            if len(tables[-1]) > 1 and not fits(tables[-1] + part):
                tables.append([key])
            tables[-1] += part
    return tables


def _widths(columns: list[FitColumn], width: int) -> list[int]:
    """Column widths within `width`: from the narrowest, columns are widened to cells of ROW_LINES lines, then of one
    line, then to headers of ROW_LINES lines and of one: each step for all columns where there is room, else for
    the cheapest first while there is."""
    widths = [c.compact for c in columns]
    for target in (lambda c: c.two_line, lambda c: c.single, lambda c: c.short_header, lambda c: c.natural):
        goals = [max(w, target(c)) for w, c in zip(widths, columns, strict=True)]
        if table_width(goals) <= width:
            widths = goals
            continue
        for i in sorted(range(len(columns)), key=lambda i: goals[i] - widths[i]):
            if table_width(widths) + goals[i] - widths[i] <= width:
                widths[i] = goals[i]
        break
    return widths


def _laid_out(columns: list[FitColumn], widths: list[int], title: str | None) -> Table:
    """A rich Table of these columns at these widths, every cell and header wrapped between its units already (rich
    only folds what is wider than its column, which happens only below the narrowest layout)."""
    table = Table(title=title, title_justify="left")
    for column, width in zip(columns, widths, strict=True):
        table.add_column(Text("\n".join(wrap_units(column.header, width))), width=width, overflow="fold",
                         justify="right" if column.right else "left")
    for row in range(len(columns[0].cells) if columns else 0):
        table.add_row(*(Text("\n".join(wrap_units(c.units[row], w))) for c, w in zip(columns, widths, strict=True)))
    return table


def _legend(labels: dict[str, str], heading: str, width: int) -> str:
    """"id: label" lines under the heading, each label wrapped between its words beneath where it starts."""
    lines = [heading]
    for key, label in labels.items():
        lead = f"{key}: "
        wrapped = wrap_units(cell_units(label), max(width - cell_len(lead), 1)) or [""]
        lines += [lead + wrapped[0], *(" " * cell_len(lead) + line for line in wrapped[1:])]
    return "\n".join(lines)


def comparison_groups(metric: Metric) -> list[tuple[str, ...]]:
    """comparison_display's columns by importance, those read together in one group, for narrow terminals."""
    return [("n", spread_header(metric), "95% CI (t)", "Δ mean [95% CI]"), ("p", "p (Holm)"),
            ("Hedges' g", "d_z", "P(better)"), ("paired rounds", "tests", "median")]


def render(table: pd.DataFrame, metric: Metric, fmt_name: str, title: str):
    """The comparison in one of FORMATS: a rich Table for "table", text otherwise. csv and json keep raw numbers
    (fractions, not %), so that other tools can compute with them."""
    if fmt_name == "table":
        shown = comparison_display(table, metric)
        if len(shown) > PLAIN_ROWS:  # rich would take seconds to lay out thousands of rows
            return text_table(shown.astype(str).values.tolist(), [str(c) for c in shown.columns], title)
        return FittedTable(shown, title, comparison_groups(metric))
    if fmt_name == "markdown":
        return f"**{title}**\n\n" + markdown_table(comparison_display(table, metric, commands=True))
    if fmt_name == "latex":
        return comparison_display(table, metric).to_latex(index=False, caption=title, label="tab:comparison",
                                                          escape=True)
    if fmt_name == "csv":
        return table.assign(metric=metric.name).to_csv(index=False)
    raw = table.assign(metric=metric.name)
    raw = raw.astype(object).where(raw.notna(), None)
    return json.dumps({"title": title, "metric": metric.name, "unit": metric.unit, "scale": metric.scale,
                       "higher_is_better": metric.higher_is_better, "rows": raw.to_dict("records")}, indent=2,
                      default=_json_number)


def _json_number(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else str(value)


# one store against another (suite.results.against) ---------------------------------------------------------

def difference_unit(metric: Metric) -> str:
    """The unit of a difference as people read it: a difference of percentages is in percentage points."""
    return "points" if metric.unit == "%" else metric.unit


def _with_unit(text: str, metric: Metric) -> str:
    unit = difference_unit(metric)
    return f"{text} {unit}" if unit else text


def detectable(row: dict) -> str:
    """"±δ": where a tested row detected nothing, the smallest difference its rounds could detect."""
    if not row["tested"] or row["significant"] or row["identical"] or row["mde"] != row["mde"]:
        return ""
    return f"±{row['declaration'].show(row['mde'])}"


def verdict_line(row: dict, alpha: float) -> str:
    """One matched experiment in a sentence: `#3 w_sharing=True: -0.40 points [-1.10, 0.30], paired p 0.210
    (Holm): no significant change; could detect ±0.95 points`."""
    metric: Metric = row["declaration"]
    name = f"#{row['experiment']} {row['label']}"
    if not row["tested"] or row["diverged_more"]:
        return f"{name}: {row['verdict']}"
    diff = _with_unit(fmt_difference(metric, row["difference"]), metric)
    if row["identical"]:
        return f"{name}: {diff}, all {row['n_paired']} shared rounds identical: no change"
    line = (f"{name}: {diff} {fmt_interval(metric, row['diff_low'], row['diff_high'])}, paired p "
            f"{fmt_p(row['p_t_holm'])} (Holm): {row['verdict']}")
    shown = detectable(row)
    return line + (f"; could detect {_with_unit(shown, metric)} (80 % power at alpha {alpha:g})" if shown else "")


def _against_units(table: pd.DataFrame) -> tuple[bool, str, str]:
    """Whether the verdict table holds several metrics, and the unit suffixes of its headers: of values and of
    differences (none with several metrics: their units are in the cells)."""
    several = len({(r["task"], r["metric"]) for r in table.to_dict("records")}) > 1
    first: Metric = table["declaration"].iloc[0]
    unit, diff_unit = ("", "") if several else (first.unit_suffix, f" ({difference_unit(first)})"
                                                if difference_unit(first) else "")
    return several, unit, diff_unit


def against_display(table: pd.DataFrame) -> pd.DataFrame:
    """The verdict table (suite.results.against.verdict_table) as strings. One metric: its unit in the headers;
    several (tasks of different primary metrics): a task and a metric column, units in the cells."""
    several, unit, diff_unit = _against_units(table)
    rows = []
    for row in table.to_dict("records"):
        metric: Metric = row["declaration"]
        tested = row["tested"]
        cells = {"task": row["task"], "metric": metric.label} if several else {}
        rows.append(cells | {
            "id": str(row["experiment"]), "baseline id": str(row["baseline"]), "experiment": row["label"],
            "paired rounds": f"{row['n_paired']} of {row['n_baseline']} / {row['n_candidate']}",
            "diverged": (f"{row['diverged_baseline']} / {row['diverged_candidate']}"
                         if row["diverged_baseline"] or row["diverged_candidate"] else ""),
            f"baseline mean ± std{unit}": f"{metric.show(row['mean_baseline'])} ± {metric.show(row['std_baseline'])}",
            f"mean ± std{unit}": f"{metric.show(row['mean_candidate'])} ± {metric.show(row['std_candidate'])}",
            f"Δ [95% CI]{diff_unit}": (f"{fmt_difference(metric, row['difference'])} "
                                       f"{fmt_interval(metric, row['diff_low'], row['diff_high'])}") if tested
            else fmt_difference(metric, row["difference"]) + " (unpaired means)",
            "p paired t / Wilcoxon": f"{fmt_p(row['p_t'])} / {fmt_p(row['p_rank'])}" if tested else "",
            "p (Holm)": f"{fmt_p(row['p_t_holm'])} / {fmt_p(row['p_rank_holm'])}" if tested else "",
            "verdict": row["verdict"],
            f"could detect{diff_unit}": detectable(row)})
    import pandas as pd

    return pd.DataFrame(rows)


def against_groups(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """against_display's columns by importance, those read together in one group, for narrow terminals."""
    _, unit, diff_unit = _against_units(table)
    return [("task", "metric", "baseline id", f"Δ [95% CI]{diff_unit}", "p (Holm)", "verdict"),
            (f"baseline mean ± std{unit}", f"mean ± std{unit}"), ("p paired t / Wilcoxon", f"could detect{diff_unit}"),
            ("paired rounds", "diverged")]


def render_against(result, fmt_name: str, title: str, regressions: pd.DataFrame | None = None):
    """The verdict table of suite.results.against.AgainstBaseline in one of FORMATS: a rich Table for "table",
    text otherwise. csv and json keep raw numbers (fractions, not %); json adds the unmatched experiments and, with
    a gate, the experiments it failed on."""
    table = result.table
    if fmt_name == "table":
        return FittedTable(against_display(table), title, against_groups(table))
    if fmt_name == "markdown":
        return f"**{title}**\n\n" + markdown_table(against_display(table))
    if fmt_name == "latex":
        return against_display(table).to_latex(index=False, caption=title, label="tab:against", escape=True)
    raw = table.drop(columns=["declaration"]).assign(
        unit=[m.unit for m in table["declaration"]], scale=[m.scale for m in table["declaration"]],
        higher_is_better=[m.higher_is_better for m in table["declaration"]])
    if fmt_name == "csv":
        return raw.to_csv(index=False)
    raw = raw.astype(object).where(raw.notna(), None)
    document = {"title": title, "candidate": str(result.candidate_path), "baseline": str(result.baseline_path),
                "alpha": result.alpha, "rows": raw.to_dict("records"), "only_candidate": result.only_candidate,
                "only_baseline": result.only_baseline}
    if regressions is not None:
        document["worse"] = [{"experiment": int(r["experiment"]), "baseline": int(r["baseline"]),
                              "task": r["task"], "metric": r["metric"]} for r in regressions.to_dict("records")]
    return json.dumps(document, indent=2, default=_json_number)


def unmatched_lines(result) -> list[str]:
    """The experiments of either store without a counterpart in the other, one line each."""
    lines = []
    for side, found, other in (("candidate", result.only_candidate, result.baseline_path),
                               ("baseline", result.only_baseline, result.candidate_path)):
        for e in found:
            lines.append(f"only in the {side} store: #{e['id']} {e['task']} {e['config']} (no experiment of its task "
                         f"and configuration in {other})")
    return lines


def regression_line(row: dict, margin: float, alpha: float) -> str:
    """A gate's failure, one line: which experiment got worse in which metric, by how much, and how sure."""
    metric: Metric = row["declaration"]
    if row["diverged_more"]:
        return (f"worse than baseline: {row['task']} #{row['experiment']} ({row['label']}): {row['verdict']} "
                f"(one-sided Fisher exact p {fmt_p(row['p_diverged_holm'])}, Holm); baseline experiment "
                f"{row['baseline']}")
    diff = _with_unit(fmt_difference(metric, row["difference"]), metric)
    return (f"worse than baseline: {row['task']} #{row['experiment']} ({row['label']}), {metric.name}: {diff} "
            f"{fmt_interval(metric, row['diff_low'], row['diff_high'])}, paired p {fmt_p(row['p_t_holm'])} (Holm) "
            f"< {alpha:g}, beyond the margin of {_with_unit(f'{margin:g}', metric)}; baseline experiment "
            f"{row['baseline']}")


def gate_line(table: pd.DataFrame, worse: pd.DataFrame, margin: float, alpha: float) -> str:
    """The gate's outcome over the whole verdict table, in one line."""
    units = {difference_unit(m) for m in table["declaration"]}
    shown = f"{margin:g} {units.pop()}".strip() if len(units) == 1 else f"{margin:g} (each metric's display unit)"
    diverged = (f", or diverging more often (Holm-adjusted Fisher exact p < {alpha:g}, or no round finished)"
                if table["diverged_more"].any() else "")
    return (f"Gate: {len(worse)} of {int(table['tested'].sum())} tested experiments significantly worse than their "
            f"baseline (Holm-adjusted paired p < {alpha:g}) by more than {shown}{diverged}: "
            f"{'FAIL' if len(worse) else 'pass'}.")


# the report's summary: one sentence per row of the comparison table -----------------------------------------

def _p_phrase(p: float) -> str:
    shown = fmt_p(p)
    return f"p < {shown[1:]}" if shown.startswith("<") else f"p = {shown}"


def summary_verdict(row: dict, metric: Metric, alpha: float) -> str:
    """The plain-words verdict of a row of the comparison table (suite.results.compare.comparison_table) against
    the reference, from its t-test's Holm-adjusted p (`p_t_holm`, the first of the table's "p (Holm)" values):
    "better" or "worse" below alpha, in the direction the metric declares ("higher" or "lower" for a metric
    without one); else "no detectable difference"; "no difference" where the row's extra `identical` says every
    shared round is equal; "not tested" without a p-value; "not compared" without a finished round."""
    if not row["n"]:
        return "not compared"
    if row.get("identical"):
        return "no difference"
    if row["p_t_holm"] != row["p_t_holm"]:
        return "not tested"
    if row["p_t_holm"] >= alpha or not row["difference"]:
        return "no detectable difference"
    higher = row["difference"] > 0
    if not metric.ranked:
        return "higher" if higher else "lower"
    return "better" if higher == bool(metric.higher_is_better) else "worse"


def summary_parts(row: dict, metric: Metric, alpha: float, first: bool) -> tuple[str, str, str]:
    """A row of the comparison table as the report's summary says it: (experiment, verdict, the numbers behind
    it), read as one sentence "experiment — verdict: numbers". `first`: the reference's row. Besides the table's
    columns, a compared row carries `identical` (every shared round equal) and `mde` (the smallest difference its
    paired rounds could detect: suite.results.against.minimum_detectable_effect at alpha), which `detectable`
    shows where nothing was detected."""
    name = f"#{row['experiment']} {row['label']}"
    diverged = (f"; {row['diverged']} diverged round{'s' if row['diverged'] != 1 else ''} not counted"
                if row.get("diverged") else "")
    if first:
        if not row["n"]:
            return name, "the reference", f"no finished round{diverged}: nothing to compare with"
        mean = f"{metric.show(row['mean'])}{' ' + metric.unit if metric.unit else ''}"
        interval = (f", 95 % t interval {fmt_interval(metric, row['t_low'], row['t_high'])}"
                    if row["t_low"] == row["t_low"] else "")
        return name, "the reference", (f"{metric.words} {mean}, the mean of {rounds_phrase(row['n'], 0)}{interval}"
                                       f"{diverged}; each line below compares an experiment with it.")
    verdict = summary_verdict(row, metric, alpha)
    if verdict == "not compared":
        return name, verdict, f"no finished round{diverged}."
    diff = _with_unit(fmt_difference(metric, row["difference"]), metric)
    if verdict == "no difference":
        return name, verdict, f"all {int(row['n_paired'])} shared rounds equal the reference's ({diff}){diverged}."
    rounds = (f"{int(row['n_paired'])} paired rounds" if row["paired"]
              else f"unpaired: {int(row['n'])} and {int(row['n_versus'])} rounds")
    if verdict == "not tested":
        why = "a single value" if min(row["n"], row["n_versus"]) < 2 else "no spread in the rounds"
        return name, verdict, f"{diff} against the reference ({rounds}); no p-value: {why}{diverged}."
    numbers = (f"{diff} {fmt_interval(metric, row['diff_low'], row['diff_high'])} against the reference "
               f"({rounds}), {row['t_test']} {_p_phrase(row['p_t_holm'])} (Holm)")
    if verdict != "no detectable difference":
        return name, verdict, f"{numbers} < {alpha:g}{diverged}."
    shown = detectable({"tested": row["paired"], "significant": False, "identical": False, "mde": row["mde"],
                        "declaration": metric})
    could = (f"these rounds could detect about {_with_unit(shown, metric)} (80 % power, paired t-test at "
             f"{alpha:g} before Holm's adjustment)" if shown else
             "no detectable size is given for unpaired rounds" if not row["paired"] else "")
    return name, verdict, f"{numbers} ≥ {alpha:g}" + (f"; {could}" if could else "") + f"{diverged}."


def summary_sentence(parts: tuple[str, str, str]) -> str:
    name, verdict, numbers = parts
    return f"{name} — {verdict}: {numbers}"
