"""The MQTT topic scheme of a site.

Every topic is ``novaenergy/<site_id>/<device_id>/<kind>``:

============  ================  =====  ========  =====================================
kind          direction         QoS    retained  payload
============  ================  =====  ========  =====================================
telemetry     device → service  1      no        JSON list of readings (batched)
state         device → service  1      yes       JSON object: running, seq, power_w
setpoint      service → device  1      no        JSON object: seq, running, valid_until
status        device → service  1      yes       ``online`` (birth) / ``offline`` (LWT)
============  ================  =====  ========  =====================================

The service announces itself the same way under the device id ``_service``. Site and
device ids must not contain ``/``, ``+`` or ``#``.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "novaenergy"
KINDS = ("telemetry", "state", "setpoint", "status")
SERVICE_DEVICE = "_service"
ONLINE, OFFLINE = b"online", b"offline"


@dataclass(frozen=True)
class TopicScheme:
    """Topics of one site."""

    site_id: str

    def __post_init__(self) -> None:
        _check_id(self.site_id)

    def topic(self, device_id: str, kind: str) -> str:
        _check_id(device_id)
        if kind not in KINDS:
            raise ValueError(f"unknown topic kind {kind!r}; one of {KINDS}")
        return f"{ROOT}/{self.site_id}/{device_id}/{kind}"

    def telemetry(self, device_id: str) -> str:
        return self.topic(device_id, "telemetry")

    def state(self, device_id: str) -> str:
        return self.topic(device_id, "state")

    def setpoint(self, device_id: str) -> str:
        return self.topic(device_id, "setpoint")

    def status(self, device_id: str) -> str:
        return self.topic(device_id, "status")

    def all_of(self, kind: str) -> str:
        """The wildcard subscription for ``kind`` of every device of the site."""
        if kind not in KINDS:
            raise ValueError(f"unknown topic kind {kind!r}; one of {KINDS}")
        return f"{ROOT}/{self.site_id}/+/{kind}"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """(device_id, kind) of a topic of this site, or None for any other topic."""
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != ROOT or parts[1] != self.site_id:
            return None
        if parts[3] not in KINDS or not parts[2]:
            return None
        return parts[2], parts[3]


def _check_id(value: str) -> None:
    if not value or any(c in value for c in "/+#"):
        raise ValueError(f"{value!r} cannot be part of a topic (empty, or has / + #)")
