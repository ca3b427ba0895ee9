"""The real OCPP CSMS on a free loopback port, driven by synchronous websocket stations.

Hypothesis runs examples synchronously, so the CSMS gets its own event loop in a background
thread and each example talks to it over a real websocket (``websockets.sync``), as a
station would: Basic auth with the station's password, an OCPP subprotocol, JSON frames.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import uuid
from collections.abc import Iterator

from websockets.sync.client import ClientConnection, connect

from control.adapters.ocpp_csms import OcppCsms

PASSWORDS = {"cp-fuzz": "pw-fuzz", "cp-good": "pw-good", "cp-tx": "pw-tx"}
ANSWER_TIMEOUT_S = 5.0
"""How long a station waits for the CSMS's answer [s]; the CSMS answers in milliseconds."""


@contextlib.contextmanager
def running_csms() -> Iterator[OcppCsms]:
    """An :class:`OcppCsms` on 127.0.0.1 and a free port, served from a background thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="csms", daemon=True)
    thread.start()

    async def start() -> OcppCsms:
        server = OcppCsms(PASSWORDS, site_id="fuzz-site", port=0, response_timeout_s=2)
        await server.start()
        return server

    csms = asyncio.run_coroutine_threadsafe(start(), loop).result(ANSWER_TIMEOUT_S)
    try:
        yield csms
    finally:
        asyncio.run_coroutine_threadsafe(csms.stop(), loop).result(ANSWER_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(ANSWER_TIMEOUT_S)
        loop.close()


@contextlib.contextmanager
def station(csms: OcppCsms, station_id: str, protocol: str) -> Iterator[ClientConnection]:
    """A websocket connection of a known station, authenticated with its password."""
    token = base64.b64encode(f"{station_id}:{PASSWORDS[station_id]}".encode()).decode()
    with connect(
        csms.url(station_id),
        subprotocols=[protocol],
        additional_headers={"Authorization": f"Basic {token}"},
        open_timeout=ANSWER_TIMEOUT_S,
    ) as ws:
        yield ws


def answers_until(ws: ClientConnection, unique_id: str) -> tuple[list, list]:
    """Frames the CSMS sends until its answer to ``unique_id``: (answers before it, that
    answer). The CSMS's own calls (it reads a station's limits after boot) are answered
    ``NotImplemented`` on the way."""
    before = []
    while True:
        frame = json.loads(ws.recv(timeout=ANSWER_TIMEOUT_S))
        if frame[0] == 2:
            ws.send(json.dumps([4, frame[1], "NotImplemented", "", {}]))
        elif frame[1] == unique_id:
            return before, frame
        else:
            before.append(frame)


def call(ws: ClientConnection, action: str, payload: dict) -> list:
    """Send a CALL and return the CSMS's answer (CALLRESULT or CALLERROR)."""
    unique_id = str(uuid.uuid4())
    ws.send(json.dumps([2, unique_id, action, payload]))
    return answers_until(ws, unique_id)[1]
