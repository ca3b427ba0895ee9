"""Message routing that a misbehaving peer cannot break, for both ends of an OCPP link.

``ocpp==2.1.0`` routes messages itself, with gaps guarded here: for OCPP 2.1 it sends no
answer at all to an unknown action (its NotImplemented/NotSupported check knows only 1.6 and
2.0.1); it queues every CALLRESULT, so a peer flooding answers nobody asked for grows the
queue without bound; it drops a CALL whose frame is broken (too few or too many elements)
although its message id can be read; and an action that is not a string (a list, an
object) makes it raise, which would cost the connection.

A CALL whose message id can be read always gets an answer: a CALLERROR ``ProtocolError`` (a
code of OCPP 1.6 and 2.x alike) when the frame is broken or the action is not a string. Frames
without a readable message id (not JSON, not an array, an unknown message type) are logged
and dropped: there is nothing to answer to, and OCPP-J says to ignore unknown message types.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError, ProtocolError
from ocpp.messages import Call, MessageType, unpack
from ocpp.v16.enums import Action as Action16
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201

LOG = logging.getLogger(__name__)

_ACTIONS = {
    "1.6": {a.value for a in Action16},
    "2.0.1": {a.value for a in Action201},
    "2.1": {a.value for a in Action21},
}


def readable_call_id(raw_msg: str | bytes) -> str | None:
    """The message id of a frame that is a CALL array ``[2, "<id>", ...]``, else None.

    Used only for frames ``unpack`` refused, to answer them if OCPP-J lets us.
    """
    try:
        frame = json.loads(raw_msg)
    except (ValueError, RecursionError):  # not JSON, too many digits, nested too deeply
        return None
    is_call = isinstance(frame, list) and len(frame) >= 2 and frame[0] == MessageType.Call
    return frame[1] if is_call and isinstance(frame[1], str) else None


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
        except (OCPPError, ValueError, RecursionError) as error:
            self.misbehaviour["malformed"] += 1
            unique_id = readable_call_id(raw_msg)
            if unique_id is None:
                LOG.warning(
                    "%s: dropped a frame that is not OCPP-J (%r): %.200r", self.id, error, raw_msg
                )
                return
            await self._refuse_call(unique_id, "the CALL frame is not [2, id, action, payload]")
            return
        if msg.message_type_id != MessageType.Call:
            if not self._call_lock.locked():
                self.misbehaviour["unsolicited_response"] += 1
                LOG.warning("%s: dropped a response to no pending call: %.200r", self.id, raw_msg)
                return
            self._response_queue.put_nowait(msg)
            return
        if not isinstance(msg.action, str):
            self.misbehaviour["malformed"] += 1
            await self._refuse_call(msg.unique_id, "the action of a CALL must be a string")
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

    async def _refuse_call(self, unique_id: object, cause: str) -> None:
        """Answer a broken CALL with a CALLERROR ``ProtocolError`` naming ``cause``."""
        LOG.warning("%s: ProtocolError for CALL %.40r: %s", self.id, unique_id, cause)
        error = ProtocolError(details={"cause": cause})
        await self._send(Call(unique_id, "", {}).create_call_error(error).to_json())
