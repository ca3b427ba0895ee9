"""Certificates as JSON shaped like EnergyTag's granular-certificate attributes.

Field names follow the EnergyTag GC Scheme Standard v2 and its open registry
(``certificate_bundle_id_range_start`` ...); quantities are whole Wh.
"""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb

SCHEMA_NOTE = "EnergyTag GC Scheme Standard v2 attributes; face value 1 Wh per certificate"


def _iso(ts) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def energytag_certificates(
    con: duckdb.DuckDBPyConnection, account_ids: list[str] | None = None
) -> dict:
    """Every bundle (optionally of some accounts) as an EnergyTag-shaped document.

    Returns
    -------
    dict
        ``{"schema": ..., "granular_certificate_bundles": [...]}``; each bundle carries its
        id range, quantity [Wh], status, account, device id and capacity [W], energy source
        and technology, bidding zone, production interval, issuance and expiry dates,
        whether it was issued from storage, and, once cancelled, the beneficiary and the
        consumption hour it covers.
    """
    where = "" if account_ids is None else "WHERE b.account_id IN (SELECT unnest($accounts))"
    rows = con.execute(
        f"""
        SELECT b.*, d.capacity_w, d.technology, d.energy_source
        FROM go_bundles b JOIN go_devices d USING (device_id) {where}
        ORDER BY b.device_id, b.range_start
        """,
        {"accounts": account_ids} if account_ids is not None else {},
    )
    names = [c[0] for c in rows.description]
    bundles = []
    for values in rows.fetchall():
        r = dict(zip(names, values, strict=True))
        bundles.append(
            {
                "certificate_bundle_id": r["bundle_id"],
                "certificate_bundle_id_range_start": r["range_start"],
                "certificate_bundle_id_range_end": r["range_end"],
                "bundle_quantity": r["quantity_wh"],
                "face_value": 1,
                "face_value_unit": "Wh",
                "certificate_bundle_status": r["status"].upper(),
                "account_id": r["account_id"],
                "device_id": r["device_id"],
                "device_capacity_w": r["capacity_w"],
                "energy_carrier": "electricity",
                "energy_source": r["energy_source"],
                "technology_type": r["technology"],
                "bidding_zone": r["zone"],
                "production_starting_interval": _iso(r["production_hour_utc"]),
                "production_ending_interval": _iso(r["production_hour_utc"] + timedelta(hours=1)),
                "issuance_datestamp": _iso(r["issued_at_utc"]),
                "use_by_datestamp": _iso(r["use_by_utc"]),
                "expiry_datestamp": _iso(r["expires_at_utc"]),
                "is_storage": bool(r["from_storage"]),
                "beneficiary": r["beneficiary_site_id"],
                "consumption_interval_start": _iso(r["consumption_hour_utc"]),
                "cancellation_datestamp": _iso(r["cancelled_at_utc"]),
            }
        )
    return {"schema": SCHEMA_NOTE, "granular_certificate_bundles": bundles}


def write_json(document: dict, path) -> None:
    """Write ``document`` as indented JSON (atomically: temporary file, then rename)."""
    from pathlib import Path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".partial")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(target)
