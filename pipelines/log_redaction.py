"""Credentials out of logs and error messages.

Libraries log credentials at DEBUG: websockets every handshake header (an OCPP station's
HTTP Basic auth included), entsoe-py and urllib3 the request URL with ENTSO-E's API key as
``securityToken``, and requests puts that URL in its errors. The composition roots attach
:class:`RedactCredentials` to those loggers and the ENTSO-E client redacts its errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

#: (pattern, replacement): HTTP ``Authorization`` header values and ``securityToken``
#: query parameters or dict entries.
PATTERNS = (
    (
        re.compile(
            r"(?i)((?:proxy-)?authorization\s*[:=]\s*['\"]?"
            r"(?:(?:basic|bearer|digest|token)\s+)?)[^\s'\",]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)(securityToken['\"]?\s*[:=]\s*['\"]?)[^&\s'\",}]+"), r"\1***"),
)


def redact(text: str) -> str:
    """``text`` with every credential :data:`PATTERNS` finds replaced by ``***``."""
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactCredentials(logging.Filter):
    """Masks credentials in log lines: HTTP ``Authorization`` header values (websockets
    logs every handshake header at DEBUG, Basic auth included) and ``securityToken``
    query parameters (ENTSO-E's API key, in request URLs and parameter dicts)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


#: The loggers (exact names: a logger's filter does not see its children's records) of the
#: libraries that log credentials at DEBUG: websockets (every handshake header, an OCPP
#: station's Basic auth included), entsoe-py and urllib3 (request URLs with the API key).
CREDENTIAL_LOGGERS = (
    "websockets.server",
    "websockets.client",
    "entsoe.entsoe",
    "urllib3.connectionpool",
)


def redact_credentials_in_logs(names: Iterable[str] = CREDENTIAL_LOGGERS) -> None:
    """Attach one :class:`RedactCredentials` to each logger in ``names`` (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
