"""Auditor-ready Scope 2 report: one PDF plus one CSV per table printed in it.

The renderer only lays out what a :class:`pipelines.scope2_report_model.Scope2Report`
holds. It computes nothing new apart from formatting, the monthly "Total" row and the
daily aggregation of the hourly frame drawn in the chart.

The PDF uses the core Helvetica font, so every string goes through :func:`sanitise`,
which maps characters outside latin-1 (``₂``, ``Σ``, ``≤``, ``—`` ...) to ASCII. That
keeps the output independent of the fonts installed on the machine. Given the same
report and ``generated_at``, the PDF is byte-for-byte reproducible.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.dates as mdates
import polars as pl
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipelines.scope2_report_model import Scope2Report

__all__ = [
    "chart_png",
    "daily_frame",
    "factor_table_versions",
    "flags_frame",
    "lineage_frame",
    "matching_rows",
    "monthly_rows",
    "render_pdf",
    "report_tables",
    "sanitise",
    "summary_frame",
    "write_scope2_report",
]

FLAG_COLUMNS: tuple[str, ...] = ("hour_utc", "flag", "detail")
BASIS_ORDER: tuple[str, ...] = ("consumption", "production", "gap_filled")
MAX_FLAG_EXAMPLES = 20
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"

_BODY_PT = 10
_TABLE_PT = 8
_LINE_MM = 5.0
_CHART_WIDTH_MM = 180.0
_CHART_SIZE_IN = (9.0, 4.5)
_CHART_DPI = 150

_ASCII_MAP = {
    "Σ": "sum",
    "∑": "sum",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "≈": "~",
    "—": "-",
    "–": "-",
    "−": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "…": "...",
    "→": "->",
    "←": "<-",
    "•": "-",
    "€": "EUR",
    "\u2009": " ",
    "\u202f": " ",
}


# --------------------------------------------------------------------------- text helpers


def sanitise(text: object) -> str:
    """Return ``text`` as a latin-1 safe string for the PDF core fonts.

    Characters outside latin-1 are mapped to ASCII: explicit replacements first
    (``Σ`` -> ``sum``, ``≤`` -> ``<=``, ``—`` -> ``-``), then their compatibility
    decomposition (``₂`` -> ``2``), else ``?``.

    Parameters
    ----------
    text : object
        Anything; converted with ``str`` first.

    Returns
    -------
    str
        Text that encodes to latin-1.
    """
    return "".join(_latin1_char(char) for char in str(text))


def _latin1_char(char: str) -> str:
    """Return one character, or its ASCII stand-in when it is not latin-1."""
    if ord(char) < 256:
        return char
    if char in _ASCII_MAP:
        return _ASCII_MAP[char]
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if ord(c) < 128)
    return kept or "?"


def _is_missing(value: float | None) -> bool:
    """Return True for None and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: float | None, decimals: int = 3) -> str:
    """Format a number with fixed ``decimals``; ``-`` when missing."""
    return "-" if _is_missing(value) else f"{value:.{decimals}f}"


def _pct(fraction: float | None) -> str:
    """Format a share [0..1] as a percentage with one decimal, e.g. ``41.2 %``."""
    return "-" if _is_missing(fraction) else f"{fraction * 100:.1f} %"


def _iso_utc(moment: datetime) -> str:
    """Format ``moment`` as ISO 8601 UTC, e.g. ``2025-01-31T13:00:00Z``; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(ISO_UTC)


def _basis_items(hours: dict[str, int]) -> list[tuple[str, int]]:
    """Return location-basis hour counts in the canonical basis order, others sorted after."""
    known = [(basis, hours.get(basis, 0)) for basis in BASIS_ORDER]
    extra = sorted((basis, n) for basis, n in hours.items() if basis not in BASIS_ORDER)
    return known + extra


# --------------------------------------------------------------------------- tables


def summary_frame(report: Scope2Report) -> pl.DataFrame:
    """Return the summary table: one row per figure.

    Parameters
    ----------
    report : Scope2Report

    Returns
    -------
    pl.DataFrame
        Columns metric (str), value (float), unit (str). Shares are fractions [0..1],
        energy [MWh], totals [tCO2e], factors [gCO2e/kWh], basis counts [h].
    """
    rows: list[tuple[str, float, str]] = [
        ("location_based_t_co2e", report.location_based_t_co2e, "tCO2e"),
        ("market_based_t_co2e", report.market_based_t_co2e, "tCO2e"),
        ("consumption_mwh", report.consumption_mwh, "MWh"),
        ("grid_import_mwh", report.grid_import_mwh, "MWh"),
        ("pv_self_consumed_mwh", report.pv_self_consumed_mwh, "MWh"),
        ("covered_by_certificates_mwh", report.covered_by_certificates_mwh, "MWh"),
        ("supplier_covered_mwh", report.supplier_covered_mwh, "MWh"),
        ("residual_mix_mwh", report.residual_mix_mwh, "MWh"),
        ("transferred_away_mwh", report.transferred_away_mwh, "MWh"),
        ("hourly_cfe_score", report.hourly_cfe_score, "fraction"),
        ("annual_match_score", report.annual_match_score, "fraction"),
        ("residual_mix_g_per_kwh", report.residual_mix.g_per_kwh, "gCO2e/kWh"),
    ]
    if report.supplier_factor is not None:
        rows.append(("supplier_factor_g_per_kwh", report.supplier_factor.g_per_kwh, "gCO2e/kWh"))
    rows += [
        (f"location_basis_hours_{basis}", float(n), "h")
        for basis, n in _basis_items(report.location_basis_hours)
    ]
    return pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "value": [float(r[1]) for r in rows],
            "unit": [r[2] for r in rows],
        },
        schema={"metric": pl.String, "value": pl.Float64, "unit": pl.String},
    )


def factor_table_versions(monthly: pl.DataFrame) -> list[str]:
    """Return the distinct factor-table versions in the monthly frame, sorted."""
    if "factor_table_version" not in monthly.columns:
        return []
    values = monthly.get_column("factor_table_version").drop_nulls().unique()
    return sorted(str(v) for v in values)


def lineage_frame(report: Scope2Report) -> pl.DataFrame:
    """Return the lineage table: ``report.lineage`` plus factor sources and versions.

    Keys already in ``report.lineage`` keep their value; the residual-mix source,
    placeholder status, supplier-factor source and factor-table version are appended
    only when absent.

    Parameters
    ----------
    report : Scope2Report

    Returns
    -------
    pl.DataFrame
        Columns key, value (both str), in print order.
    """
    items = {str(k): str(v) for k, v in report.lineage.items()}
    mix = report.residual_mix
    items.setdefault("residual_mix_source", mix.source)
    items.setdefault("residual_mix_zone_year", f"{mix.zone} {mix.year}")
    items.setdefault("residual_mix_is_placeholder", str(mix.is_placeholder).lower())
    if report.supplier_factor is not None:
        items.setdefault("supplier_factor_source", report.supplier_factor.source)
    versions = factor_table_versions(report.monthly)
    if versions:
        items.setdefault("factor_table_version", ", ".join(versions))
    return pl.DataFrame(
        {"key": list(items), "value": list(items.values())},
        schema={"key": pl.String, "value": pl.String},
    )


def flags_frame(flags: pl.DataFrame) -> pl.DataFrame:
    """Return ``flags`` with at least the columns hour_utc, flag, detail.

    Parameters
    ----------
    flags : pl.DataFrame
        ``report.flags``; may be empty or even column-less.

    Returns
    -------
    pl.DataFrame
        The same rows; missing standard columns are added as nulls.
    """
    missing = [c for c in FLAG_COLUMNS if c not in flags.columns]
    if not missing:
        return flags
    if flags.width == 0:
        return pl.DataFrame(
            schema={"hour_utc": pl.Datetime("us", "UTC"), "flag": pl.String, "detail": pl.String}
        )
    return flags.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` with datetimes as ISO 8601 UTC strings and lists joined by ``;``."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            col = pl.col(name)
            col = col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col
            exprs.append(col.dt.convert_time_zone("UTC").dt.strftime(ISO_UTC).alias(name))
        elif isinstance(dtype, pl.List):
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join(";").alias(name))
    return frame.with_columns(exprs) if exprs else frame


def daily_frame(hourly: pl.DataFrame) -> pl.DataFrame:
    """Aggregate the hourly frame to UTC days for the chart.

    Parameters
    ----------
    hourly : pl.DataFrame
        ``report.hourly``: hour_utc, consumption_kwh, certificates_available_kwh,
        certificates_cancelled_kwh [kWh], ci_g_per_kwh [gCO2e/kWh].

    Returns
    -------
    pl.DataFrame
        day (date, UTC), consumption_mwh, certificates_available_mwh,
        certificates_cancelled_mwh [MWh per day] and ci_g_per_kwh (daily mean
        [gCO2e/kWh]), sorted by day. Columns absent from ``hourly`` are absent here.
    """
    hour = pl.col("hour_utc")
    dtype = hourly.schema["hour_utc"]
    if isinstance(dtype, pl.Datetime):
        hour = hour.dt.replace_time_zone("UTC") if dtype.time_zone is None else hour
        hour = hour.dt.convert_time_zone("UTC")
    sums = [
        (pl.col(f"{name}_kwh").sum() / 1000.0).alias(f"{name}_mwh")
        for name in ("consumption", "certificates_available", "certificates_cancelled")
        if f"{name}_kwh" in hourly.columns
    ]
    means = [pl.col("ci_g_per_kwh").mean()] if "ci_g_per_kwh" in hourly.columns else []
    return (
        hourly.group_by(hour.dt.date().alias("day"), maintain_order=True)
        .agg(sums + means)
        .sort("day")
    )


def monthly_rows(report: Scope2Report) -> list[list[str]]:
    """Return the printed monthly table: heading, one row per month, then ``Total``.

    The Total row sums energy [MWh] and emissions [tCO2e] and shows the annual hourly
    CFE score from ``report.hourly_cfe_score``.
    """
    columns = (
        "consumption_mwh",
        "grid_import_mwh",
        "covered_by_certificates_mwh",
        "location_based_t_co2e",
        "market_based_t_co2e",
    )
    heading = [
        "Month",
        "Consumption [MWh]",
        "Grid import [MWh]",
        "Covered [MWh]",
        "Location [tCO2e]",
        "Market [tCO2e]",
        "Hourly CFE [%]",
    ]
    monthly = report.monthly.sort("month")
    rows = [heading]
    for rec in monthly.iter_rows(named=True):
        cells = [str(rec["month"])] + [_num(rec.get(c)) for c in columns]
        rows.append(cells + [_pct(rec.get("hourly_cfe_score"))])
    totals = [_num(float(monthly.get_column(c).sum())) for c in columns]
    rows.append(["Total"] + totals + [_pct(report.hourly_cfe_score)])
    return rows


def matching_rows(monthly: pl.DataFrame) -> list[list[str]]:
    """Return the printed per-month table of hourly CFE vs monthly matched share [%]."""
    rows = [["Month", "Hourly CFE [%]", "Monthly matched share [%]"]]
    for rec in monthly.sort("month").iter_rows(named=True):
        rows.append(
            [
                str(rec["month"]),
                _pct(rec.get("hourly_cfe_score")),
                _pct(rec.get("annual_match_score")),
            ]
        )
    return rows


# --------------------------------------------------------------------------- chart


def chart_png(daily: pl.DataFrame, title: str) -> bytes:
    """Draw daily energy [MWh] and mean carbon intensity [gCO2e/kWh] as a PNG.

    Uses a standalone :class:`matplotlib.figure.Figure` on an Agg canvas, never
    registered with pyplot: the global backend is untouched and nothing stays open
    after the call (there is no pyplot figure to close).

    Parameters
    ----------
    daily : pl.DataFrame
        Output of :func:`daily_frame`.
    title : str
        Figure title.

    Returns
    -------
    bytes
        PNG image.
    """
    fig = Figure(figsize=_CHART_SIZE_IN, dpi=_CHART_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    days = daily.get_column("day").to_list()
    _plot_energy(ax, daily, days)
    handles, labels = ax.get_legend_handles_labels()
    if "ci_g_per_kwh" in daily.columns:
        ax_ci = ax.twinx()
        ax_ci.plot(
            days,
            daily.get_column("ci_g_per_kwh").to_list(),
            color="0.35",
            lw=1.0,
            ls=":",
            label="Mean carbon intensity",
        )
        ax_ci.set_ylabel("Mean carbon intensity [gCO2e/kWh]")
        ax_ci.set_ylim(bottom=0, top=_headroom(ax_ci.get_ylim()[1]))
        more_handles, more_labels = ax_ci.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("Day (UTC)")
    ax.set_ylabel("Energy per day [MWh]")
    ax.set_ylim(bottom=0, top=_headroom(ax.get_ylim()[1]))
    locator = mdates.DayLocator() if daily.height <= 14 else mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _headroom(top: float) -> float:
    """Return an axis top 10 % above ``top`` (1 when the data are all zero)."""
    return top * 1.1 if top > 0 else 1.0


def _plot_energy(ax, daily: pl.DataFrame, days: list) -> None:
    """Draw the daily energy series [MWh] on the left axis."""
    styles = {
        "consumption_mwh": ("Consumption", {"color": "tab:blue", "lw": 1.4}),
        "certificates_available_mwh": (
            "Certificates available",
            {"color": "tab:green", "lw": 1.0, "ls": "--"},
        ),
        "certificates_cancelled_mwh": ("Certificates cancelled", {"color": "tab:green", "lw": 1.4}),
    }
    for column, (label, style) in styles.items():
        if column in daily.columns:
            ax.plot(days, daily.get_column(column).to_list(), label=label, **style)
    if "certificates_cancelled_mwh" in daily.columns:
        values = daily.get_column("certificates_cancelled_mwh").to_list()
        ax.fill_between(days, values, color="tab:green", alpha=0.15, lw=0)


# --------------------------------------------------------------------------- PDF


class _ReportPDF(FPDF):
    """A4 portrait document with a footer naming the report and the page."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = sanitise(footer_text)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        """Print the report name on the left and ``Page n / N`` on the right."""
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(90)
        self.cell(0, 5, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} / {{nb}}", align="R")
        self.set_text_color(0)


def _text(pdf: FPDF, text: str, *, bold: bool = False, size: int = _BODY_PT) -> None:
    """Write a wrapped paragraph across the full text width."""
    pdf.set_font("Helvetica", style="B" if bold else "", size=size)
    pdf.multi_cell(0, _LINE_MM, sanitise(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _heading(pdf: FPDF, text: str) -> None:
    """Start a section: PDF outline entry plus bold heading; new page if nearly full."""
    pdf.ln(3)
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.start_section(sanitise(text))
    pdf.set_font("Helvetica", style="B", size=13)
    pdf.cell(0, 8, sanitise(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _table(
    pdf: FPDF,
    rows: Sequence[Sequence[str]],
    col_widths: Sequence[float],
    *,
    align: str = "",
    bold_last: bool = False,
) -> None:
    """Print ``rows`` (first row is the heading) with fpdf2's table.

    ``align`` has one letter per column, ``L`` or ``R``; default: first column left,
    the others (numbers) right.
    """
    align = align or "L" + "R" * (len(col_widths) - 1)
    pdf.set_font("Helvetica", size=_TABLE_PT)
    with pdf.table(
        col_widths=tuple(col_widths),
        width=sum(col_widths),
        align="LEFT",
        text_align=tuple("LEFT" if a == "L" else "RIGHT" for a in align),
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
        line_height=1.6 * _TABLE_PT * 0.3528,
        padding=(0.6, 1.2),
    ) as table:
        for index, cells in enumerate(rows):
            last = bold_last and index == len(rows) - 1
            row = table.row(style=FontFace(emphasis="BOLD") if last else None)
            for value in cells:
                row.cell(sanitise(value))
    pdf.ln(2)


def _title_block(pdf: FPDF, report: Scope2Report, generated_at: datetime) -> None:
    """Print the title, site, zone, year and generation time."""
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(0, 10, "Scope 2 emissions report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _text(pdf, f"Site: {report.site_id}")
    _text(pdf, f"Zone: {report.zone}")
    _text(pdf, f"Year: {report.year}")
    _text(pdf, f"Generated at: {_iso_utc(generated_at)} (UTC)")


def _placeholder_warning(pdf: FPDF, report: Scope2Report) -> None:
    """Print a boxed red warning when the residual mix is a labelled placeholder."""
    mix = report.residual_mix
    if not mix.is_placeholder:
        return
    pdf.ln(3)
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.set_text_color(170, 0, 0)
    pdf.set_fill_color(253, 228, 228)
    pdf.set_draw_color(170, 0, 0)
    text = (
        f"WARNING: PLACEHOLDER residual mix ({_num(mix.g_per_kwh, 1)} gCO2e/kWh, "
        f"{mix.zone} {mix.year}). Market-based figures are not final. Source: {mix.source}"
    )
    pdf.multi_cell(
        0,
        6,
        sanitise(text),
        border=1,
        fill=True,
        padding=2,
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(0)
    pdf.set_draw_color(0)
    pdf.set_fill_color(255)


def _summary_lines(report: Scope2Report) -> list[str]:
    """Return the headline lines of the summary section."""
    basis = ", ".join(f"{b} {n}" for b, n in _basis_items(report.location_basis_hours))
    supplier = report.supplier_factor
    supplier_line = (
        f"Supplier factor: {_num(supplier.g_per_kwh, 1)} gCO2e/kWh ({supplier.source})"
        if supplier is not None
        else "Supplier factor: none"
    )
    mix = report.residual_mix
    return [
        f"Location-based: {_num(report.location_based_t_co2e)} tCO2e",
        f"Market-based: {_num(report.market_based_t_co2e)} tCO2e",
        f"Consumption: {_num(report.consumption_mwh)} MWh "
        f"(grid import {_num(report.grid_import_mwh)} MWh, "
        f"PV self-consumed {_num(report.pv_self_consumed_mwh)} MWh)",
        f"Covered by certificates: {_num(report.covered_by_certificates_mwh)} MWh",
        f"Hourly CFE score: {_pct(report.hourly_cfe_score)}",
        f"Annual match score: {_pct(report.annual_match_score)}",
        f"Location basis hours: {basis}",
        f"Residual mix: {_num(mix.g_per_kwh, 1)} gCO2e/kWh ({mix.source})",
        supplier_line,
    ]


def _summary_table_rows(summary: pl.DataFrame) -> list[list[str]]:
    """Return the printed summary table (same rows as the summary CSV)."""
    rows = [["Metric", "Value", "Unit"]]
    for rec in summary.iter_rows(named=True):
        decimals = 0 if rec["unit"] == "h" else 6 if rec["unit"] == "fraction" else 3
        rows.append([rec["metric"], _num(rec["value"], decimals), rec["unit"]])
    return rows


def _summary_section(pdf: FPDF, report: Scope2Report, summary: pl.DataFrame) -> None:
    """Print the headline figures, then every summary figure as a table."""
    _heading(pdf, "Summary")
    for index, line in enumerate(_summary_lines(report)):
        _text(pdf, line, bold=index < 2, size=11 if index < 2 else _BODY_PT)
    pdf.ln(2)
    _table(pdf, _summary_table_rows(summary), (75, 35, 25), align="LRL")


def _method_section(pdf: FPDF, report: Scope2Report) -> None:
    """Print each paragraph of the method statement."""
    _heading(pdf, "Method")
    for paragraph in report.method_statement:
        _text(pdf, paragraph)
        pdf.ln(2)


def _monthly_section(pdf: FPDF, report: Scope2Report) -> None:
    """Print the monthly table with its Total row."""
    _heading(pdf, "Monthly figures")
    _table(pdf, monthly_rows(report), (20, 28, 26, 24, 27, 27, 28), bold_last=True)


def _matching_section(pdf: FPDF, report: Scope2Report) -> None:
    """Print the hourly and annual matching scores and the per-month comparison."""
    _heading(pdf, "Hourly matching")
    _text(pdf, f"Hourly CFE score: {_pct(report.hourly_cfe_score)}")
    _text(pdf, f"Annual match score: {_pct(report.annual_match_score)}")
    pdf.ln(1)
    _text(
        pdf,
        "The hourly CFE score is sum_h min(GC_h, load_h) / sum_h load_h; the annual match "
        "score is min(sum GC, sum load) / sum load. The hourly score is <= the annual score "
        "by construction, since a sum of hourly minima cannot exceed the minimum of the sums.",
    )
    pdf.ln(2)
    _table(pdf, matching_rows(report.monthly), (25, 35, 50))


def _chart_section(pdf: FPDF, report: Scope2Report) -> None:
    """Embed the daily energy and carbon-intensity chart."""
    _heading(pdf, "Daily consumption, certificates and carbon intensity")
    if report.hourly.height == 0:
        _text(pdf, "No hourly data.")
        return
    title = f"{report.site_id} {report.zone} {report.year}: daily sums and mean intensity"
    png = chart_png(daily_frame(report.hourly), title)
    height = _CHART_WIDTH_MM * _CHART_SIZE_IN[1] / _CHART_SIZE_IN[0]
    if pdf.will_page_break(height):
        pdf.add_page()
    pdf.image(io.BytesIO(png), w=_CHART_WIDTH_MM, h=height)
    pdf.ln(2)


def _flag_example_rows(flags: pl.DataFrame) -> list[list[str]]:
    """Return the printed examples table: heading plus up to MAX_FLAG_EXAMPLES rows."""
    rows = [["Hour (UTC)", "Flag", "Detail"]]
    for rec in _csv_ready(flags.head(MAX_FLAG_EXAMPLES)).iter_rows(named=True):
        rows.append([str(rec.get(c) if rec.get(c) is not None else "") for c in FLAG_COLUMNS])
    return rows


def _flags_section(pdf: FPDF, flags: pl.DataFrame) -> None:
    """Print the count per flag and up to MAX_FLAG_EXAMPLES example rows."""
    _heading(pdf, "Flags")
    if flags.height == 0:
        _text(pdf, "No flags.")
        return
    counts = flags.group_by("flag").len().sort("flag")
    rows = [["Flag", "Rows"]] + [[str(f), str(n)] for f, n in counts.iter_rows()]
    _text(pdf, f"{flags.height} flagged rows.")
    _table(pdf, rows, (70, 20))
    shown = min(flags.height, MAX_FLAG_EXAMPLES)
    _text(pdf, f"Examples (first {shown} of {flags.height}):")
    _table(pdf, _flag_example_rows(flags), (38, 45, 97), align="LLL")


def _lineage_section(pdf: FPDF, lineage: pl.DataFrame) -> None:
    """Print each lineage key in bold and its value wrapped below it."""
    _heading(pdf, "Lineage")
    for key, value in lineage.iter_rows():
        _text(pdf, key, bold=True, size=9)
        pdf.set_x(pdf.l_margin + 4)
        pdf.set_font("Helvetica", size=9)
        pdf.multi_cell(0, 4.5, sanitise(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)


def render_pdf(
    report: Scope2Report,
    path: Path,
    tables: dict[str, pl.DataFrame],
    generated_at: datetime,
) -> Path:
    """Lay out the report as an A4 PDF at ``path``.

    Parameters
    ----------
    report : Scope2Report
    path : Path
        Output file.
    tables : dict[str, pl.DataFrame]
        ``summary``, ``flags`` and ``lineage`` frames as written to CSV.
    generated_at : datetime
        Printed generation time and PDF creation date (naive means UTC).

    Returns
    -------
    Path
        ``path``.
    """
    if generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=UTC)
    pdf = _ReportPDF(f"Scope 2 report {report.site_id} {report.year}")
    pdf.set_title(sanitise(f"Scope 2 emissions report {report.site_id} {report.year}"))
    pdf.set_subject(sanitise(f"Scope 2 emissions, {report.site_id}, {report.zone}"))
    pdf.set_author("NovaEnergy")
    pdf.set_creator("NovaEnergy")
    pdf.set_creation_date(generated_at.astimezone(UTC))
    pdf.add_page()
    _title_block(pdf, report, generated_at)
    _placeholder_warning(pdf, report)
    _summary_section(pdf, report, tables["summary"])
    _method_section(pdf, report)
    _monthly_section(pdf, report)
    _matching_section(pdf, report)
    _chart_section(pdf, report)
    _flags_section(pdf, tables["flags"])
    _lineage_section(pdf, tables["lineage"])
    pdf.output(str(path))
    return path


# --------------------------------------------------------------------------- entry point


def report_tables(report: Scope2Report) -> dict[str, pl.DataFrame]:
    """Return every table printed in the PDF, keyed by CSV name suffix.

    Returns
    -------
    dict[str, pl.DataFrame]
        ``summary``, ``monthly``, ``hourly_matching``, ``flags`` and ``lineage``.
    """
    return {
        "summary": summary_frame(report),
        "monthly": report.monthly,
        "hourly_matching": report.hourly,
        "flags": flags_frame(report.flags),
        "lineage": lineage_frame(report),
    }


def _write_csvs(tables: dict[str, pl.DataFrame], out_dir: Path, base: str) -> dict[str, Path]:
    """Write each table to ``{base}_{name}.csv``; return {name: path}."""
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        path = out_dir / f"{base}_{name}.csv"
        _csv_ready(frame).write_csv(path)
        paths[name] = path
    return paths


def write_scope2_report(
    report: Scope2Report,
    out_dir: Path,
    *,
    generated_at: datetime | None = None,
) -> dict[str, Path]:
    """Write the PDF and one CSV per table in it; return {name: path}.

    Files are named ``scope2_{site_id}_{year}.pdf`` and
    ``scope2_{site_id}_{year}_{name}.csv`` for name in summary, monthly,
    hourly_matching, flags and lineage. Timestamps in CSVs are ISO 8601 UTC
    (``2025-01-31T13:00:00Z``); list columns are joined with ``;``.

    Parameters
    ----------
    report : Scope2Report
        Figures to lay out; nothing is recomputed.
    out_dir : Path
        Output directory; created if missing.
    generated_at : datetime, optional
        Generation time printed in the PDF and stored as its creation date; defaults
        to now [UTC]. Fix it to get a byte-identical PDF for the same report.

    Returns
    -------
    dict[str, Path]
        ``pdf`` and the five CSV names mapped to the written files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = f"scope2_{report.site_id}_{report.year}"
    tables = report_tables(report)
    paths = {"pdf": render_pdf(report, out_dir / f"{base}.pdf", tables, _now(generated_at))}
    paths.update(_write_csvs(tables, out_dir, base))
    return paths


def _now(generated_at: datetime | None) -> datetime:
    """Return ``generated_at`` or the current time [UTC]."""
    return generated_at if generated_at is not None else datetime.now(UTC)
