"""Scope 2: location- and market-based emissions by month, how they were made, the report files."""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards import cache, ui
from dashboards.charts import monthly_bars
from pipelines.explore.scope2 import (
    instruments,
    method_notes,
    months_of_year,
    report_files,
    scope2_months,
)

TOTALS = {
    "location_based_t_co2e": "location-based",
    "market_based_t_co2e": "market-based",
}
DOWNLOADS = [  # (table, label, mime); the PDF first
    ("pdf", "Report (PDF)", "application/pdf"),
    ("flags", "Auditor flags (CSV)", "text/csv"),
    ("hourly_matching", "Hourly matching (CSV)", "text/csv"),
    ("monthly", "Monthly totals (CSV)", "text/csv"),
    ("summary", "Summary (CSV)", "text/csv"),
    ("lineage", "Lineage (CSV)", "text/csv"),
]


def totals_chart(months: pl.DataFrame) -> go.Figure:
    """Location- and market-based totals per month, side by side [t CO2e]."""
    long = months.select("month", *(pl.col(c).alias(n) for c, n in TOTALS.items())).unpivot(
        index="month", variable_name="method", value_name="t CO2e"
    )
    return monthly_bars(long, "t CO2e", "method", {"t CO2e": "Scope 2 [t CO2e]"})


def headline(months: pl.DataFrame) -> None:
    """The year's two totals, consumption and hourly CFE score."""
    consumption = months["consumption_mwh"].sum()
    covered = months["covered_by_certificates_mwh"].sum()
    a, b, c, d = st.columns(4)
    a.metric("Location-based", f"{months['location_based_t_co2e'].sum():,.2f} t CO2e", border=True)
    b.metric("Market-based", f"{months['market_based_t_co2e'].sum():,.2f} t CO2e", border=True)
    c.metric("Consumption", f"{consumption:,.1f} MWh", border=True)
    d.metric(
        "Hourly CFE score",
        f"{covered / consumption:.1%}" if consumption else "–",
        help="Consumption matched hour by hour by certificates cancelled for the site.",
        border=True,
    )


def notes(files: dict, months: pl.DataFrame, year: int) -> None:
    """The report's method statement, with the residual mix and supplier factor used."""
    mix, supplier = instruments(files, months, cfg.zone, year)
    if mix is None:
        st.info(
            f"The residual mix used for {year} "
            f"({months['residual_mix_g_per_kwh'].max():g} g CO2e/kWh) is recorded in the "
            "report's lineage: make the report (below) to see its source and the method notes."
        )
        return
    if mix.is_placeholder:
        st.warning(
            f"PLACEHOLDER residual mix ({mix.g_per_kwh:g} g CO2e/kWh, {mix.zone} {mix.year}): "
            f"market-based figures are not final. Source: {mix.source}",
            icon=":material/warning:",
        )
    for paragraph in method_notes(months, mix, supplier):
        st.markdown(paragraph)
    st.caption(
        f"Residual mix: {mix.g_per_kwh:g} g CO2e/kWh — {mix.source}. Supplier factor: "
        + (f"{supplier.g_per_kwh:g} g CO2e/kWh — {supplier.source}." if supplier else "none.")
    )


def downloads(files: dict, year: int) -> None:
    """A download button per report file present, or how to make them."""
    if not files:
        st.info(
            f"No report files for {year} in `{cfg.reports_dir}/scope2`. Make them with "
            f"`novaenergy scope2 --site {cfg.site_id} --year {year} "
            f"--out {cfg.reports_dir}/scope2` (or `make demo`)."
        )
        return
    columns = st.columns(3)
    shown = [d for d in DOWNLOADS if d[0] in files]
    for i, (name, label, mime) in enumerate(shown):
        path = files[name]
        columns[i % 3].download_button(
            label,
            data=path.read_bytes(),
            file_name=path.name,
            mime=mime,
            key=f"scope2_download_{name}",
            icon=":material/download:",
            width="stretch",
        )


cfg = ui.config()
st.title("Scope 2")
st.caption(
    f"GHG Protocol Scope 2 emissions of site {cfg.site_id} [t CO2e], both methods, summed from "
    "hourly figures per UTC calendar month (scope2_monthly in the lake); the method notes and "
    f"files are those of the report `novaenergy scope2` writes to {cfg.reports_dir}/scope2."
)
monthly = cache.frame(scope2_months, cfg.lake_root, cfg.site_id)
files_by_year = cache.frame(report_files, cfg.reports_dir, cfg.site_id)
years = sorted({int(m[:4]) for m in monthly["month"]} | set(files_by_year))
if not years:
    st.info(
        "No Scope 2 figures in the lake yet. Run `make demo`, or materialize scope2_monthly "
        "in Dagster."
    )
    st.stop()

year = st.selectbox("Year (UTC)", years, index=len(years) - 1, key="scope2_year")
months = months_of_year(monthly, year)
files = files_by_year.get(year, {})
if months.is_empty():
    st.info(f"No scope2_monthly rows for {year} in the lake; the report files are below.")
else:
    headline(months)
    st.plotly_chart(totals_chart(months), width="stretch")
    with st.expander("Monthly figures"):
        st.dataframe(months.drop("site_id"), hide_index=True, width="stretch")
    st.subheader("Method")
    notes(files, months, year)
st.subheader("Report files")
downloads(files, year)
