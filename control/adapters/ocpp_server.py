"""The CSMS's front door: station ids from the URL, security profiles 1 to 3, and TLS.

A station connects to ``ws[s]://host:port/{station_id}`` (the last path segment,
URL-decoded). The handshake is refused with HTTP 404 for an unknown station (OCPP-J), 401
for missing or wrong Basic credentials (security profiles 1 and 2: user = station id,
password per station) and 403 when a client certificate's CN is not the station id
(profile 3). Subprotocol negotiation is websockets' own: the server's order is the
preference, and a client offering none of them gets HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import ssl
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

LOG = logging.getLogger(__name__)


def station_id_from_path(path: str) -> str:
    """The station id: the last non-empty, URL-decoded segment of the request path."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    return unquote(segments[-1]) if segments else ""


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic`` header, None if absent or bad."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        user, sep, password = (
            base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def peer_common_name(connection: ServerConnection) -> str | None:
    """The CN of the verified client certificate, None without one."""
    cert = connection.transport.get_extra_info("peercert") or {}
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def server_ssl_context(
    cert_file: str | Path, key_file: str | Path, client_ca_file: str | Path | None = None
) -> ssl.SSLContext:
    """TLS for profile 2, and with ``client_ca_file`` client certificates for profile 3.

    Parameters
    ----------
    cert_file, key_file : str or Path
        The CSMS's certificate chain and private key (PEM).
    client_ca_file : str or Path, optional
        CA bundle that station certificates must chain to; makes them mandatory.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca_file)
    return context


def _refuse(connection: ServerConnection, status: HTTPStatus, why: str, station: str) -> Response:
    LOG.warning("refused station %r: %s", station, why)
    response = connection.respond(status, f"{status.phrase}\n")
    if status == HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
    return response


def make_process_request(
    passwords: Mapping[str, str | None], check_cn: bool
) -> Callable[[ServerConnection, Request], Response | None]:
    """The handshake check for websockets' ``process_request``.

    Parameters
    ----------
    passwords : mapping of str to str or None
        Known stations and their Basic-auth passwords; None means no password (the station
        must then authenticate with a client certificate).
    check_cn : bool
        Require the client certificate's CN to equal the station id.
    """

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        station = station_id_from_path(request.path)
        if station not in passwords:
            return _refuse(connection, HTTPStatus.NOT_FOUND, "unknown station", station)
        if check_cn and peer_common_name(connection) != station:
            return _refuse(connection, HTTPStatus.FORBIDDEN, "certificate CN mismatch", station)
        expected = passwords[station]
        if expected is not None:
            creds = basic_credentials(request.headers.get("Authorization"))
            ok = creds is not None and hmac.compare_digest(
                f"{creds[0]}:{creds[1]}".encode(), f"{station}:{expected}".encode()
            )
            if not ok:
                return _refuse(connection, HTTPStatus.UNAUTHORIZED, "bad credentials", station)
        return None

    return process_request
