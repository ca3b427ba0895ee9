"""OCPP meter values and status as ``device_telemetry`` rows, and their buffered landing.

Rows are ``site_id, device_id, ts_utc, metric, value, unit`` with device_id = the station id.
Only whole-station values become rows (per-phase samples are skipped): ``power_w`` [W]
(import minus export, so V2X discharge is negative), ``energy_wh`` and
``energy_export_wh`` [Wh], ``soc_pct`` [%], ``current_a`` [A], ``voltage_v`` [V], and
``connector_status`` [code] from StatusNotification (codes in :data:`STATUS_CODES`).

A sampled value that is not a finite number (``"abc"``, ``NaN``, ``1e400``, a multiplier that
overflows) is logged and skipped; an entry whose timestamp cannot be read raises ValueError
naming it, so the handler refuses the whole message before recording anything.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime

from control.adapters.ocpp_wire import parse_ts
from ingest.telemetry_landing import TelemetryBatchWriter

LOG = logging.getLogger(__name__)

# measurand -> (metric, unit, sign)
_MEASURANDS = {
    "Power.Active.Import": ("power_w", "W", 1.0),
    "Power.Active.Export": ("power_w", "W", -1.0),
    "Energy.Active.Import.Register": ("energy_wh", "Wh", 1.0),
    "Energy.Active.Export.Register": ("energy_export_wh", "Wh", 1.0),
    "SoC": ("soc_pct", "%", 1.0),
    "Current.Import": ("current_a", "A", 1.0),
    "Voltage": ("voltage_v", "V", 1.0),
}
_SCALE = {"W": 1.0, "kW": 1e3, "Wh": 1.0, "kWh": 1e3, "Percent": 1.0, "A": 1.0, "V": 1.0}

STATUS_CODES = {
    "Available": 0,
    "Preparing": 1,
    "Occupied": 1,
    "Charging": 1,
    "SuspendedEV": 1,
    "SuspendedEVSE": 1,
    "Finishing": 1,
    "Reserved": 2,
    "Unavailable": 3,
    "Faulted": 4,
}


def _value(sample: dict) -> tuple[str, str, float] | None:
    measurand = sample.get("measurand", "Energy.Active.Import.Register")
    if measurand not in _MEASURANDS or sample.get("phase"):
        return None
    metric, unit, sign = _MEASURANDS[measurand]
    uom = sample.get("unit_of_measure") or {}
    raw_unit = uom.get("unit") or sample.get("unit") or unit
    scale = _SCALE.get(raw_unit)
    if scale is None:
        return None
    # a float power: an int one of a huge multiplier would take minutes (10 ** 10**9)
    value = float(sample["value"]) * scale * 10.0 ** int(uom.get("multiplier", 0)) * sign
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return metric, unit, value


def meter_rows(site_id: str, station_id: str, meter_values: list[dict]) -> list[dict]:
    """Telemetry rows from OCPP ``meterValue`` entries (snake_case, 1.6 or 2.x).

    Import and export power at one timestamp are netted into one ``power_w`` row, as the
    telemetry key is (site, device, metric, ts).

    Raises
    ------
    ValueError
        An entry's timestamp is not an ISO 8601 time (the message names the entry).
    """
    rows: dict[tuple[datetime, str], dict] = {}
    for i, entry in enumerate(meter_values or []):
        try:
            ts = parse_ts(entry["timestamp"])
        except ValueError as exc:
            raise ValueError(f"meterValue[{i}].timestamp: {exc}") from exc
        for sample in entry.get("sampled_value", []):
            try:
                parsed = _value(sample)
            except (TypeError, ValueError, OverflowError):
                LOG.warning("%s: unreadable sampled value %r", station_id, sample)
                continue
            if parsed is None:
                continue
            metric, unit, value = parsed
            row = rows.get((ts, metric))
            if row is not None and metric == "power_w":
                row["value"] += value
                continue
            rows[(ts, metric)] = {
                "site_id": site_id,
                "device_id": station_id,
                "ts_utc": ts,
                "metric": metric,
                "value": value,
                "unit": unit,
            }
    return list(rows.values())


def status_row(site_id: str, station_id: str, ts: datetime, status: str) -> dict | None:
    """A ``connector_status`` row from a StatusNotification, None for an unknown status."""
    code = STATUS_CODES.get(status)
    if code is None:
        return None
    return {
        "site_id": site_id,
        "device_id": station_id,
        "ts_utc": ts,
        "metric": "connector_status",
        "value": float(code),
        "unit": "code",
    }


class TelemetryBuffer:
    """Collects rows in memory and lands them in batches, so a message is not a file.

    Parameters
    ----------
    writer : TelemetryBatchWriter or None
        Where batches land; None keeps only the latest values (tests, benchmarks).
    """

    def __init__(self, writer: TelemetryBatchWriter | None) -> None:
        self._writer = writer
        self._rows: list[dict] = []
        self.latest: dict[tuple[str, str], float] = {}

    def add(self, rows: list[dict]) -> None:
        """Queue rows and remember each station's newest value per metric."""
        for row in rows:
            self.latest[(row["device_id"], row["metric"])] = row["value"]
        if self._writer is not None:
            self._rows.extend(rows)

    async def flush(self) -> int:
        """Land the queued rows as one batch (off the event loop); returns the row count."""
        rows, self._rows = self._rows, []
        if rows and self._writer is not None:
            await asyncio.to_thread(self._writer.write, rows)
        return len(rows)
