"""Errors the ledger raises, each naming the rule an operation broke."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

# expression fragment in a DuckDB constraint message -> rule name
_CONSTRAINT_RULES = {
    "issued_wh <= metered_wh": "issuance_cap",
    "issued_wh <= capacity_cap_wh": "capacity_cap",
    "cancelled_wh <= metered_wh": "cancel_exceeds_consumption",
    "discharged_wh <= floor": "storage_cap",
    "consumption_hour_utc = production_hour_utc": "cancel_hour_or_zone",
}


class LedgerRuleError(ValueError):
    """An operation would break a ledger rule; the ledger is left unchanged.

    Attributes
    ----------
    rule : str
        Short name of the broken rule, e.g. ``issue_once`` or ``cancel_requires_active``.
    """

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__(f"{rule}: {message}")


class LedgerConflictError(LedgerRuleError):
    """Another transaction changed the same bundle or counter first; nothing was written."""

    def __init__(self, message: str):
        super().__init__("concurrent_change", f"{message}; re-read the ledger and retry")


def rule_of_constraint(message: str) -> str:
    """Rule name for a DuckDB constraint error message."""
    for fragment, rule in _CONSTRAINT_RULES.items():
        if fragment in message:
            return rule
    if re.search(r"Duplicate key \"device_id: .*production_hour_utc", message):
        return "issue_once"
    return "constraint"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the body in one transaction; on any error roll back and raise a rule error."""
    con.begin()
    try:
        yield
        con.commit()
    except BaseException as ex:
        try:
            con.rollback()
        except duckdb.Error:
            pass  # DuckDB already aborted the transaction
        if isinstance(ex, duckdb.TransactionException):
            raise LedgerConflictError(str(ex)) from ex
        if isinstance(ex, duckdb.ConstraintException):
            raise LedgerRuleError(rule_of_constraint(str(ex)), str(ex)) from ex
        raise
