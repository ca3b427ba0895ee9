"""Message routing that a misbehaving peer cannot break, for both ends of an OCPP link.

``ocpp==2.1.0`` routes messages itself, with two gaps guarded here: for OCPP 2.1 it sends no
answer at all to an unknown action (its NotImplemented/NotSupported check knows only 1.6 and
2.0.1), and it queues every CALLRESULT, so a peer flooding answers nobody asked for grows the
queue without bound. Malformed frames are logged and dropped (no unique id to answer to).
"""

from __future__ import annotations

import logging
from collections import Counter

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.v16.enums import Action as Action16
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201

LOG = logging.getLogger(__name__)

_ACTIONS = {
    "1.6": {a.value for a in Action16},
    "2.0.1": {a.value for a in Action201},
    "2.1": {a.value for a in Action21},
}


class GuardedRouting:
    """Mixin placed before an ``ocpp`` ``ChargePoint`` class; counts what it drops.

    ``misbehaviour`` counts ``malformed``, ``unknown_action``, ``unsolicited_response`` and
    ``call_error_sent`` per connection.
    """

    misbehaviour: Counter

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Route one frame: answer calls, hand responses to the waiting ``call()``."""
        if not hasattr(self, "misbehaviour"):
            self.misbehaviour = Counter()
        try:
            msg = unpack(raw_msg)
        except OCPPError as error:
            self.misbehaviour["malformed"] += 1
            LOG.warning(
                "%s: dropped a frame that is not OCPP-J (%s): %.200r", self.id, error, raw_msg
            )
            return
        if msg.message_type_id != MessageType.Call:
            if not self._call_lock.locked():
                self.misbehaviour["unsolicited_response"] += 1
                LOG.warning("%s: dropped a response to no pending call: %.200r", self.id, raw_msg)
                return
            self._response_queue.put_nowait(msg)
            return
        if msg.action not in self.route_map:
            self.misbehaviour["unknown_action"] += 1
            known = msg.action in _ACTIONS.get(self._ocpp_version, ())
            cause = {"cause": f"{msg.action} is not handled here"}
            error = OcppNotImplemented(details=cause) if known else NotSupportedError(details=cause)
            LOG.warning("%s: %s for action %r", self.id, error.code, msg.action)
            await self._send(msg.create_call_error(error).to_json())
            return
        try:
            await self._handle_call(msg)
        except OCPPError as error:
            self.misbehaviour["call_error_sent"] += 1
            LOG.warning("%s: %s on %s: %s", self.id, error.code, msg.action, error.description)
            await self._send(msg.create_call_error(error).to_json())
