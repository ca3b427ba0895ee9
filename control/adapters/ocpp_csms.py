"""The OCPP CSMS: one websockets server for OCPP 2.1, 2.0.1 and 1.6 stations.

Each accepted connection gets a per-version handler (:mod:`ocpp_handlers`) and an
:class:`~control.adapters.ocpp_charger.OcppCharger`, the ``Charger`` port the control
service drives. Telemetry is buffered and landed as raw batches every ``flush_interval_s``.
A peer that misbehaves loses at most its own connection; the server keeps serving.

Example
-------
>>> async with OcppCsms({"charger-1": "secret"}, site_id="warehouse-b", port=0) as csms:
...     charger = await csms.wait_for_station("charger-1", timeout_s=30)
...     await charger.set_power(11_000, valid_until)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Mapping
from pathlib import Path

import ocpp.messages
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from control.adapters.ocpp_charger import OcppCharger
from control.adapters.ocpp_handlers import HANDLERS, CsmsContext
from control.adapters.ocpp_server import (
    make_process_request,
    server_ssl_context,
    station_id_from_path,
)
from control.adapters.ocpp_telemetry import TelemetryBuffer
from control.adapters.ocpp_transactions import TransactionStore
from control.adapters.ocpp_wire import SUBPROTOCOLS
from ingest.telemetry_landing import TelemetryBatchWriter

LOG = logging.getLogger(__name__)


class OcppCsms:
    """The CSMS server and its registry of connected stations.

    Parameters
    ----------
    passwords : mapping of str to str or None
        Known station ids and their Basic-auth passwords (security profile 1/2). None: the
        station has no password and must present a client certificate (profile 3).
    site_id : str
        Site of the telemetry rows.
    host : str
        Listen address; loopback unless set otherwise.
    port : int
        Listen port; 0 picks a free one (see :attr:`port`).
    raw_root : str or Path, optional
        Raw landing root for telemetry batches; None keeps only the latest values.
    tls_cert, tls_key : str or Path, optional
        Server certificate and key (PEM): serve ``wss://`` (profile 2).
    tls_client_ca : str or Path, optional
        CA for station certificates: require them, with CN = station id (profile 3).
    response_timeout_s : float
        How long a CSMS call waits for the station's answer [s].
    heartbeat_interval_s : int
        Heartbeat interval told to stations [s].
    max_offline_s : int
        ``maxOfflineDuration`` of OCPP 2.1 profiles, the fail-safe when the CSMS goes quiet [s].
    v2x_stations : collection of str, optional
        Stations that may be asked to discharge; None lets every 2.1 station decide itself.
    flush_interval_s : float
        How often buffered telemetry is landed [s].
    """

    def __init__(
        self,
        passwords: Mapping[str, str | None],
        site_id: str,
        host: str = "127.0.0.1",
        port: int = 9000,
        raw_root: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        tls_client_ca: str | Path | None = None,
        response_timeout_s: float = 30.0,
        heartbeat_interval_s: int = 300,
        max_offline_s: int = 900,
        v2x_stations: Collection[str] | None = None,
        flush_interval_s: float = 10.0,
    ) -> None:
        if tls_client_ca is None and any(p is None for p in passwords.values()):
            raise ValueError(
                "a station without a password needs client certificates (tls_client_ca)"
            )
        if tls_client_ca is not None and tls_cert is None:
            raise ValueError("client certificates (tls_client_ca) need tls_cert and tls_key")
        self.passwords = dict(passwords)
        self.host = host
        self._port = port
        self._ssl = server_ssl_context(tls_cert, tls_key, tls_client_ca) if tls_cert else None
        self._check_cn = tls_client_ca is not None
        self.response_timeout_s = response_timeout_s
        self.max_offline_s = max_offline_s
        self.v2x_stations = None if v2x_stations is None else set(v2x_stations)
        self.flush_interval_s = flush_interval_s
        writer = TelemetryBatchWriter(raw_root, f"ocpp-{site_id}") if raw_root else None
        self.ctx = CsmsContext(
            site_id, TransactionStore(), TelemetryBuffer(writer), heartbeat_interval_s
        )
        self.chargers: dict[str, OcppCharger] = {}
        self.connections_served = 0
        self._server: Server | None = None
        self._flusher: asyncio.Task | None = None
        self._changed = asyncio.Condition()

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    def url(self, station_id: str = "") -> str:
        """The URL a station connects to (``ws://`` or ``wss://``)."""
        scheme = "wss" if self._ssl else "ws"
        return f"{scheme}://{self.host}:{self.port}/{station_id}"

    async def start(self) -> None:
        """Listen; returns once the socket is bound.

        Schema validation is switched to inline for the whole process: ``ocpp`` otherwise
        sends every message through the default thread pool, and with 1,000 stations that
        hop costs more than the validation itself (which holds the GIL anyway); measured in
        ``bench/bench_ocpp.py``, it halves the time to acknowledgement.
        """
        ocpp.messages.ASYNC_VALIDATION = False
        self._server = await serve(
            self._serve_station,
            self.host,
            self._port,
            subprotocols=list(SUBPROTOCOLS),
            process_request=make_process_request(self.passwords, self._check_cn),
            ssl=self._ssl,
            compression=None,  # OCPP frames are small; deflate costs CPU at 1,000 stations
            backlog=4096,
        )
        self._flusher = asyncio.create_task(self._flush_loop())
        LOG.info("OCPP CSMS listening on %s", self.url())

    async def stop(self) -> None:
        """Close every connection, stop listening and land the remaining telemetry."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.ctx.telemetry.flush()

    async def __aenter__(self) -> OcppCsms:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def wait_for_station(self, station_id: str, timeout_s: float) -> OcppCharger:
        """The station's charger once it is connected; TimeoutError after ``timeout_s`` [s]."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: station_id in self.chargers)
            return self.chargers[station_id]

    async def wait_for_count(self, count: int, timeout_s: float) -> None:
        """Wait until ``count`` stations are connected; TimeoutError after ``timeout_s`` [s]."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: len(self.chargers) >= count)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.ctx.telemetry.flush()
            except Exception:  # a full disk must not stop the CSMS; rows of this batch are lost
                LOG.exception("landing OCPP telemetry failed")

    async def _serve_station(self, connection: ServerConnection) -> None:
        station_id = station_id_from_path(connection.request.path)
        handler = HANDLERS[connection.subprotocol](
            station_id, connection, response_timeout=self.response_timeout_s
        )
        handler.ctx = self.ctx
        v2x = self.v2x_stations is None or station_id in self.v2x_stations
        charger = OcppCharger(handler, self.ctx, self.max_offline_s, v2x)
        handler.on_boot = charger.prefetch_limits
        previous = self.chargers.get(station_id)
        if previous is not None:  # the station reconnected: the new connection wins
            LOG.warning("%s connected again; closing its previous connection", station_id)
            previous.closed.set()
            await previous.handler._connection.close()
        async with self._changed:
            self.chargers[station_id] = charger
            self._changed.notify_all()
        self.connections_served += 1
        LOG.info("%s connected (%s)", station_id, connection.subprotocol)
        try:
            await handler.start()
        except ConnectionClosed as closed:
            LOG.info("%s disconnected (%s)", station_id, closed)
        except Exception:  # a handler bug must cost one connection, not the server
            LOG.exception("%s: connection handler failed", station_id)
        finally:
            charger.closed.set()
            if self.chargers.get(station_id) is charger:
                del self.chargers[station_id]
