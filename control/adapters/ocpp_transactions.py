"""Idempotent transaction bookkeeping: stations resend, the CSMS records each event once.

OCPP 2.x TransactionEvent is keyed on ``(transactionId, seqNo)``; the OCPP 1.6 equivalent is
StartTransaction (keyed on connector and start time, so a resent start gets the same id) and
StopTransaction (keyed on the transaction id). Every resend is still answered; only the
recording is skipped.

The open transactions can be kept in a file (:meth:`TransactionStore.keep_in`), so a
restarted CSMS still knows them: a station reports a running transaction again only at its
next meter interval, and without it the first setpoint after a restart would go out as a
second, TxDefault profile instead of replacing the transaction's TxProfile.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger(__name__)


@dataclass
class _Tx:
    station_id: str
    evse_id: int
    seq_nos: set[int] = field(default_factory=set)
    ended: bool = False


class TransactionStore:
    """Transactions of every station, bounded in memory.

    Parameters
    ----------
    max_transactions : int
        How many transactions (open and recently ended) are remembered; the oldest ended
        ones are forgotten first.
    """

    def __init__(self, max_transactions: int = 100_000) -> None:
        self._txs: OrderedDict[str, _Tx] = OrderedDict()
        self._starts_16: dict[tuple[str, int, str], int] = {}
        self._next_16 = 1
        self._open: dict[str, str] = {}
        self._max = max_transactions
        self._path: Path | None = None

    def keep_in(self, path: str | Path) -> None:
        """Take over the open transactions saved in ``path`` (JSON) and save them there,
        replaced atomically, whenever one starts or ends."""
        self._path = Path(path)
        try:
            saved = json.loads(self._path.read_text()) if self._path.exists() else {}
        except (OSError, ValueError) as error:
            LOG.error("open transactions in %s unreadable (%s): starting empty", path, error)
            saved = {}
        for station_id, (transaction_id, evse_id) in saved.get("open", {}).items():
            key = f"{station_id}/{transaction_id}"
            self._txs.setdefault(key, _Tx(station_id, int(evse_id)))
            self._open[station_id] = key
        self._next_16 = max(self._next_16, int(saved.get("next_id_16", 1)))

    def _save(self) -> None:
        if self._path is None:
            return
        open_txs = {
            station_id: [key.split("/", 1)[1], self._txs[key].evse_id]
            for station_id, key in self._open.items()
            if key in self._txs
        }
        tmp = self._path.with_name(f".{self._path.name}.{uuid.uuid4().hex}.tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(
                json.dumps({"open": open_txs, "next_id_16": self._next_16}, sort_keys=True)
            )
            os.replace(tmp, self._path)
        except OSError:  # the CSMS goes on; a restart would forget these transactions
            LOG.exception("open transactions not saved to %s", self._path)
        finally:
            tmp.unlink(missing_ok=True)

    def record_event(
        self, station_id: str, transaction_id: str, seq_no: int, event_type: str, evse_id: int
    ) -> bool:
        """Record one TransactionEvent; False when ``(transactionId, seqNo)`` was seen."""
        key = f"{station_id}/{transaction_id}"
        tx = self._txs.get(key)
        if tx is None:
            tx = self._txs[key] = _Tx(station_id, evse_id)
            self._prune()
        if seq_no in tx.seq_nos:
            return False
        tx.seq_nos.add(seq_no)
        if evse_id:
            tx.evse_id = evse_id
        if event_type == "Ended":
            tx.ended = True
            if self._open.get(station_id) == key:
                del self._open[station_id]
                self._save()
        elif not tx.ended and self._open.get(station_id) != key:
            self._open[station_id] = key
            self._save()
        return True

    def start_16(self, station_id: str, connector_id: int, timestamp: str) -> tuple[int, bool]:
        """An OCPP 1.6 StartTransaction: ``(transaction id, first time seen)``."""
        key = (station_id, connector_id, timestamp)
        if key in self._starts_16:
            return self._starts_16[key], False
        tx_id, self._next_16 = self._next_16, self._next_16 + 1
        self._starts_16[key] = tx_id
        self.record_event(station_id, str(tx_id), 0, "Started", connector_id)
        return tx_id, True

    def stop_16(self, station_id: str, transaction_id: int) -> bool:
        """An OCPP 1.6 StopTransaction; False when it was already recorded."""
        return self.record_event(station_id, str(transaction_id), 1 << 30, "Ended", 0)

    def active(self, station_id: str) -> tuple[str, int] | None:
        """The station's newest open transaction as ``(transaction id, evse id)``."""
        key = self._open.get(station_id)
        if key is None or key not in self._txs:
            return None
        return key.split("/", 1)[1], self._txs[key].evse_id

    def _prune(self) -> None:
        while len(self._txs) > self._max:
            for key, tx in self._txs.items():
                if tx.ended:
                    del self._txs[key]
                    break
            else:
                self._txs.popitem(last=False)
