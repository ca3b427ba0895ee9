"""Per-version CSMS handlers: what the CSMS answers to a station's calls.

BootNotification, Heartbeat, StatusNotification, MeterValues and TransactionEvent (2.0.1 and
2.1) or Start/StopTransaction (1.6). Meter values and status become telemetry rows;
transactions are recorded once per ``(transactionId, seqNo)`` while every resend is answered.

A payload that passes the schema but holds a value the CSMS cannot read (a timestamp that is
not ISO 8601, an integer beyond the float range) is refused with a CALLERROR
``PropertyConstraintViolation`` naming the field, before anything is recorded: a refused
transaction event is recorded when the station resends it corrected, not skipped as a resend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

from control.adapters.ocpp_routing import GuardedRouting
from control.adapters.ocpp_telemetry import TelemetryBuffer, meter_rows, status_row
from control.adapters.ocpp_transactions import TransactionStore
from control.adapters.ocpp_wire import parse_ts, utc_z

LOG = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _readable(field: str = "") -> Iterator[None]:
    """Refuse the call with ``PropertyConstraintViolation`` if reading ``field`` fails."""
    try:
        yield
    except (ValueError, OverflowError) as exc:
        cause = f"{field}: {exc}" if field else str(exc)
        raise PropertyConstraintViolationError(details={"cause": cause}) from exc


@dataclass
class CsmsContext:
    """What every station handler shares.

    Parameters
    ----------
    site_id : str
        Site of the telemetry rows.
    transactions : TransactionStore
        Idempotent transaction records of all stations.
    telemetry : TelemetryBuffer
        Where telemetry rows go.
    heartbeat_interval_s : int
        Heartbeat interval told to booting stations [s].
    now : callable
        Clock returning aware UTC datetimes.
    """

    site_id: str
    transactions: TransactionStore
    telemetry: TelemetryBuffer
    heartbeat_interval_s: int = 300
    now: Callable[[], datetime] = _utcnow


class _Common(GuardedRouting):
    """Handler logic shared by the versions; ``_results`` is the version's call_result."""

    ctx: CsmsContext
    _results = result201
    boot: dict | None = None
    duplicates = 0
    on_boot = None  # set by the CSMS: called once the BootNotification answer is sent

    def _land(self, rows: list[dict]) -> None:
        if rows:
            self.ctx.telemetry.add(rows)

    def _boot(self, **payload) -> object:
        self.boot = payload
        LOG.info("%s booted (OCPP %s)", self.id, self._ocpp_version)
        return self._results.BootNotification(
            current_time=utc_z(self.ctx.now()),
            interval=self.ctx.heartbeat_interval_s,
            status="Accepted",
        )

    def _booted(self) -> None:
        hook = getattr(self, "on_boot", None)
        if hook is not None:
            hook()

    def _heartbeat(self) -> object:
        return self._results.Heartbeat(current_time=utc_z(self.ctx.now()))

    def _register_row(self, timestamp: str, energy_wh: int) -> dict:
        """An OCPP 1.6 start or stop meter reading [Wh] as a telemetry row; refused if unreadable."""
        with _readable("timestamp"):
            ts = parse_ts(timestamp)
        with _readable("meter reading"):
            value = float(energy_wh)
        return {
            "site_id": self.ctx.site_id,
            "device_id": self.id,
            "ts_utc": ts,
            "metric": "energy_wh",
            "value": value,
            "unit": "Wh",
        }


class _Handlers2x(_Common):
    @on("BootNotification")
    def on_boot_notification(self, **payload):
        return self._boot(**payload)

    @after("BootNotification")
    def after_boot_notification(self, **_):
        self._booted()

    @on("Heartbeat")
    def on_heartbeat(self, **_):
        return self._heartbeat()

    @on("StatusNotification")
    def on_status_notification(self, timestamp, connector_status, evse_id, **_):
        with _readable("timestamp"):
            ts = parse_ts(timestamp)
        row = status_row(self.ctx.site_id, self.id, ts, connector_status)
        self._land([row] if row else [])
        return self._results.StatusNotification()

    @on("MeterValues")
    def on_meter_values(self, evse_id, meter_value, **_):
        with _readable():
            rows = meter_rows(self.ctx.site_id, self.id, meter_value)
        self._land(rows)
        return self._results.MeterValues()

    @on("TransactionEvent")
    def on_transaction_event(
        self, event_type, timestamp, trigger_reason, seq_no, transaction_info, **payload
    ):
        evse_id = (payload.get("evse") or {}).get("id", 0)
        tx_id = transaction_info["transaction_id"]
        with _readable():  # before recording: a refused event must count when resent
            rows = meter_rows(self.ctx.site_id, self.id, payload.get("meter_value"))
        if self.ctx.transactions.record_event(self.id, tx_id, seq_no, event_type, evse_id):
            self._land(rows)
        else:
            self.duplicates += 1
            LOG.info("%s: resent TransactionEvent %s/%s not recorded again", self.id, tx_id, seq_no)
        if payload.get("id_token"):
            return self._results.TransactionEvent(id_token_info={"status": "Accepted"})
        return self._results.TransactionEvent()


class CsmsHandler21(_Handlers2x, ChargePoint21):
    """CSMS side of an OCPP 2.1 connection."""

    _results = result21


class CsmsHandler201(_Handlers2x, ChargePoint201):
    """CSMS side of an OCPP 2.0.1 connection."""

    _results = result201


class CsmsHandler16(_Common, ChargePoint16):
    """CSMS side of an OCPP 1.6 connection; Start/StopTransaction stand in for TransactionEvent."""

    _results = result16

    @on("BootNotification")
    def on_boot_notification(self, **payload):
        return self._boot(**payload)

    @after("BootNotification")
    def after_boot_notification(self, **_):
        self._booted()

    @on("Heartbeat")
    def on_heartbeat(self, **_):
        return self._heartbeat()

    @on("Authorize")
    def on_authorize(self, id_tag, **_):
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StatusNotification")
    def on_status_notification(self, connector_id, error_code, status, **payload):
        with _readable("timestamp"):
            ts = parse_ts(payload["timestamp"]) if payload.get("timestamp") else self.ctx.now()
        row = status_row(self.ctx.site_id, self.id, ts, status)
        self._land([row] if row else [])
        return result16.StatusNotification()

    @on("MeterValues")
    def on_meter_values(self, connector_id, meter_value, **_):
        with _readable():
            rows = meter_rows(self.ctx.site_id, self.id, meter_value)
        self._land(rows)
        return result16.MeterValues()

    @on("StartTransaction")
    def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **_):
        row = self._register_row(timestamp, meter_start)  # before recording, as below
        tx_id, new = self.ctx.transactions.start_16(self.id, connector_id, timestamp)
        if new:
            self._land([row])
        else:
            self.duplicates += 1
        return result16.StartTransaction(transaction_id=tx_id, id_tag_info={"status": "Accepted"})

    @on("StopTransaction")
    def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **payload):
        with _readable():  # before recording: a refused stop must count when resent
            rows = meter_rows(self.ctx.site_id, self.id, payload.get("transaction_data") or [])
        rows.append(self._register_row(timestamp, meter_stop))
        if self.ctx.transactions.stop_16(self.id, transaction_id):
            self._land(list({(r["ts_utc"], r["metric"]): r for r in rows}.values()))
        else:
            self.duplicates += 1
        return result16.StopTransaction()


HANDLERS = {"ocpp2.1": CsmsHandler21, "ocpp2.0.1": CsmsHandler201, "ocpp1.6": CsmsHandler16}
"""Handler class per negotiated subprotocol."""
