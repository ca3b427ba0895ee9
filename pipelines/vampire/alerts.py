"""Human-readable alerts for vampire-load events.

One alert per event, with a message in the site's local time such as::

    High Consumption Alert: shredder line 2 drew 14 kW from 22:00 to 05:30, 112 kWh,
    31 €, 42 kg CO2 (Thu 2025-02-20)

Severity grows with the excess energy of the event: ``low`` below the first threshold,
``medium`` up to the second and ``high`` from there on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from pipelines.schemas import conform, empty_frame
from pipelines.vampire.offhours import DEFAULT_TIMEZONE

SEVERITY_KWH = (20.0, 100.0)


def severity(excess_kwh: float, thresholds_kwh: tuple[float, float] = SEVERITY_KWH) -> str:
    """``low``, ``medium`` or ``high`` for an excess energy [kWh]."""
    low, high = thresholds_kwh
    if excess_kwh >= high:
        return "high"
    return "medium" if excess_kwh >= low else "low"


def _number(value: float, unit: str) -> str:
    """A figure rounded for a message: one decimal below 10, whole numbers above."""
    text = f"{value:.1f}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{text} {unit}"


def _span(start: datetime, end: datetime) -> str:
    """'from 22:00 to 05:30', with weekdays when the event lasts a day or more."""
    if end - start >= timedelta(days=1):
        return f"from {start:%a %H:%M} to {end:%a %H:%M}"
    return f"from {start:%H:%M} to {end:%H:%M}"


def alert_message(
    description: str,
    start_local: datetime,
    end_local: datetime,
    mean_excess_power_w: float,
    excess_kwh: float,
    excess_cost_eur: float | None = None,
    excess_co2_kg: float | None = None,
) -> str:
    """The text of one alert.

    Parameters
    ----------
    description : str
        What the meter measures, e.g. "shredder line 2".
    start_local, end_local : datetime
        Event start and (exclusive) end in the site's local time.
    mean_excess_power_w : float
        Mean excess power [W].
    excess_kwh : float
        Excess energy [kWh].
    excess_cost_eur, excess_co2_kg : float, optional
        Cost [EUR] and emissions [kg CO2]; left out of the message when None.

    Returns
    -------
    str
    """
    parts = [
        f"High Consumption Alert: {description} drew "
        f"{_number(mean_excess_power_w / 1000, 'kW')} {_span(start_local, end_local)}",
        _number(excess_kwh, "kWh"),
    ]
    if excess_cost_eur is not None:
        parts.append(_number(excess_cost_eur, "€"))
    if excess_co2_kg is not None:
        parts.append(_number(excess_co2_kg, "kg CO2"))
    return ", ".join(parts) + f" ({start_local:%a %Y-%m-%d})"


def vampire_alerts(
    events: pl.DataFrame,
    meters: pl.DataFrame | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    severity_kwh: tuple[float, float] = SEVERITY_KWH,
) -> pl.DataFrame:
    """Alerts for vampire-load events.

    Parameters
    ----------
    events : pl.DataFrame
        ``vampire_load_events`` rows (:func:`~pipelines.vampire.detect.detect_vampire_loads`).
    meters : pl.DataFrame, optional
        Meter registry with ``meter_id`` and ``description`` (and ``site_id``, matched
        when present); a meter without a description is named by its id.
    timezone : str, default "Europe/Berlin"
        Time zone of the times in the message.
    severity_kwh : (float, float), default (20, 100)
        Excess energy [kWh] from which an alert is ``medium`` and ``high``.

    Returns
    -------
    pl.DataFrame
        The ``vampire_alerts`` schema: site_id, meter_id, start_utc, end_utc, severity,
        message, excess_kwh, excess_cost_eur, excess_co2_kg; one row per event, in the
        order of ``events``.
    """
    if events.is_empty():
        return empty_frame("vampire_alerts")
    named = events.with_columns(pl.col("meter_id").alias("description"))
    if meters is not None and "description" in meters.columns:
        keys = ["meter_id"]
        if "site_id" in meters.columns and "site_id" in events.columns:
            keys = ["site_id", "meter_id"]
        lookup = meters.select(*keys, pl.col("description").alias("_registry")).unique(
            keys, keep="first"
        )
        named = (
            events.join(lookup, on=keys, how="left", maintain_order="left")
            .with_columns(
                pl.when(pl.col("_registry").str.strip_chars().str.len_chars() > 0)
                .then(pl.col("_registry"))
                .otherwise(pl.col("meter_id"))
                .alias("description")
            )
            .drop("_registry")
        )
    local = named.with_columns(
        pl.col("start_utc").dt.convert_time_zone(timezone).alias("_start_local"),
        pl.col("end_utc").dt.convert_time_zone(timezone).alias("_end_local"),
    )
    messages, severities = [], []
    for row in local.iter_rows(named=True):
        messages.append(
            alert_message(
                row["description"],
                row["_start_local"],
                row["_end_local"],
                row["mean_excess_power_w"],
                row["excess_kwh"],
                row["excess_cost_eur"],
                row["excess_co2_kg"],
            )
        )
        severities.append(severity(row["excess_kwh"], severity_kwh))
    out = local.with_columns(
        pl.Series("message", messages, dtype=pl.String),
        pl.Series("severity", severities, dtype=pl.String),
    )
    return conform(out, "vampire_alerts")
