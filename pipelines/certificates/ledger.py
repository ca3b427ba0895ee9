"""Granular certificate ledger operations: issue, transfer, cancel, claim, expire, store.

Every operation is set-based (a frame of rows in, one transaction) so a year of a
hundred sites runs in seconds; the one-bundle calls are thin wrappers. Each checks
its preconditions in SQL inside the transaction and raises
:class:`~pipelines.certificates.rules.LedgerRuleError` naming the first broken rule;
constraints in :mod:`pipelines.certificates.schema` back the same rules up. A failed
operation leaves the ledger unchanged.

Certificates are whole Wh [Wh] with ids counted per device; a bundle is the inclusive
id range [range_start, range_end] of one device and production hour. A partial
transfer, cancel or store splits a bundle into two children, the part acted on first:
[start, start + take − 1] and [start + take, end].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from pipelines.certificates.rules import LedgerRuleError, transaction


@dataclass(frozen=True)
class LedgerPolicy:
    """Validity of certificates, counted from the production hour [months]."""

    use_by_months: int = 12
    expiry_months: int = 18


DEFAULT_POLICY = LedgerPolicy()

DEVICE_COLUMNS = ["device_id", "site_id", "zone", "technology", "energy_source", "capacity_w"]
_BUNDLE_COLUMNS = (
    "device_id, range_start, range_end, quantity_wh, status, account_id, zone, "
    "production_hour_utc, from_storage, issued_at_utc, use_by_utc, expires_at_utc, "
    "beneficiary_site_id, consumption_hour_utc, consumption_zone, cancelled_at_utc, "
    "storage_device_id"
)


@dataclass(frozen=True)
class _Action:
    allowed: tuple[str, ...]
    set_sql: str
    columns: tuple[str, ...] = ()
    partial: bool = True


_ACTIONS = {
    "transfer": _Action(("active",), "account_id = t.to_account_id", ("to_account_id",)),
    "cancel": _Action(
        ("active",),
        "status = 'cancelled', beneficiary_site_id = t.beneficiary_site_id, "
        "consumption_hour_utc = t.consumption_hour_utc, consumption_zone = t.consumption_zone, "
        "cancelled_at_utc = $now",
        ("beneficiary_site_id", "consumption_hour_utc", "consumption_zone"),
    ),
    "store": _Action(
        ("active",),
        "status = 'stored', storage_device_id = t.storage_device_id",
        ("storage_device_id",),
    ),
    "claim": _Action(("cancelled",), "status = 'claimed'", partial=False),
    "expire": _Action(("active",), "status = 'expired'", partial=False),
    "withdraw": _Action(("active",), "status = 'withdrawn'", partial=False),
}


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> None:
    """Run ``;``-separated statements, each with the ``$name`` parameters it uses."""
    for statement in sql.split(";"):
        if statement.strip():
            used = {k: v for k, v in (params or {}).items() if f"${k}" in statement}
            con.execute(statement, used)


def _fail_if(con: duckdb.DuckDBPyConnection, rule: str, sql: str, params=None) -> None:
    """Raise ``rule`` with the first row of ``sql`` (a message) if it returns one."""
    rows = con.execute(sql, params or {}).fetchall()
    row = rows[0] if rows else None
    if row is not None:
        raise LedgerRuleError(rule, str(row[0]))


def register_devices(con: duckdb.DuckDBPyConnection, devices: pl.DataFrame) -> None:
    """Register producing or storage devices; a known device keeps its record.

    Parameters
    ----------
    devices : pl.DataFrame
        device_id, site_id, zone, technology, energy_source, capacity_w [W] and
        account_id (the account issuance goes to).
    """
    frame = devices.select(*DEVICE_COLUMNS, "account_id")
    con.register("frame", frame)
    con.execute(
        f"INSERT INTO go_devices ({', '.join(DEVICE_COLUMNS)}, account_id) "
        f"SELECT {', '.join(DEVICE_COLUMNS)}, account_id FROM frame ON CONFLICT DO NOTHING"
    )


def register_storage(con: duckdb.DuckDBPyConnection, device_id: str, efficiency: float) -> None:
    """Track certificate Wh charged into and discharged from a storage device.

    ``efficiency`` is the round-trip efficiency [0..1] that caps what discharge may carry.
    """
    con.execute(
        "INSERT INTO go_storage (device_id, efficiency) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [device_id, efficiency],
    )


def record_consumption(con: duckdb.DuckDBPyConnection, consumption: pl.DataFrame) -> None:
    """Record metered consumption per site and hour, which cancels may cover.

    ``consumption`` has site_id, hour_utc, zone and metered_wh [Wh]. A revision replaces
    the figure; one below what is already cancelled is rejected (rule
    ``cancel_exceeds_consumption``) and left for the matching report to flag.
    """
    frame = consumption.select("site_id", "hour_utc", "zone", "metered_wh")
    con.register("frame", frame)
    with transaction(con):
        con.execute(
            "INSERT INTO go_consumption (site_id, consumption_hour_utc, zone, metered_wh) "
            "SELECT site_id, hour_utc, zone, metered_wh FROM frame "
            "ON CONFLICT (site_id, consumption_hour_utc) DO UPDATE SET "
            "metered_wh = excluded.metered_wh, zone = excluded.zone"
        )


def issue(
    con: duckdb.DuckDBPyConnection,
    production: pl.DataFrame,
    now: datetime,
    policy: LedgerPolicy = DEFAULT_POLICY,
    from_storage: bool = False,
) -> int:
    """Issue certificates for metered production, one bundle per device and hour.

    Parameters
    ----------
    production : pl.DataFrame
        device_id, production_hour_utc (on the hour), metered_wh [Wh] and optionally
        quantity_wh [Wh] to issue less than metered. Face values round down to whole Wh;
        rows that round to zero issue nothing.
    now : datetime
        Time of issuance (UTC).
    from_storage : bool
        Issue from a storage device's metered discharge; its certificate Wh must stay
        within what was stored × efficiency (rule ``storage_cap``).

    Returns
    -------
    int
        Bundles issued.

    Raises
    ------
    LedgerRuleError
        ``unknown_device``, ``not_an_hour``, ``issue_once`` (an hour issued before or twice
        in the batch), ``issuance_cap`` (more than metered), ``capacity_cap``,
        ``unknown_storage`` or ``storage_cap``.
    """
    if "quantity_wh" not in production.columns:
        production = production.with_columns(pl.lit(None, dtype=pl.Float64).alias("quantity_wh"))
    batch = production.select(
        "device_id",
        "production_hour_utc",
        pl.col("metered_wh").cast(pl.Float64),
        pl.col("quantity_wh").cast(pl.Float64),
    )
    con.register("batch", batch)
    params = {"now": now, "storage": from_storage}
    with transaction(con):
        _fail_if(
            con,
            "unknown_device",
            "SELECT 'device ' || device_id || ' is not registered' FROM batch "
            "ANTI JOIN go_devices USING (device_id) LIMIT 1",
        )
        _fail_if(
            con,
            "not_an_hour",
            "SELECT 'production_hour_utc ' || production_hour_utc || ' is not on the hour' "
            "FROM batch WHERE production_hour_utc <> date_trunc('hour', production_hour_utc) "
            "LIMIT 1",
        )
        _fail_if(
            con,
            "issue_once",
            "SELECT 'device ' || device_id || ' hour ' || production_hour_utc || "
            "' is in the batch more than once' FROM batch "
            "GROUP BY device_id, production_hour_utc HAVING count(*) > 1 LIMIT 1",
        )
        _run(
            con,
            f"""
            CREATE OR REPLACE TEMP TABLE issue_rows AS
            SELECT *, next_cert_id - 1 + sum(q) OVER (
                    PARTITION BY device_id ORDER BY production_hour_utc
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - q + 1 AS range_start
            FROM (
                SELECT b.device_id, b.production_hour_utc, b.metered_wh,
                       CAST(floor(coalesce(b.quantity_wh, b.metered_wh)) AS BIGINT) AS q,
                       d.zone, d.account_id, d.next_cert_id, d.capacity_w * 1.1 AS cap_wh
                FROM batch b JOIN go_devices d USING (device_id)
            ) WHERE q > 0;
            INSERT INTO go_issuances
            SELECT device_id, production_hour_utc, metered_wh, q, cap_wh, $storage, $now
            FROM issue_rows;
            INSERT INTO go_bundles (bundle_id, {_BUNDLE_COLUMNS})
            SELECT nextval('go_bundle_seq'), device_id, range_start, range_start + q - 1, q,
                   'active', account_id, zone, production_hour_utc, $storage, $now,
                   production_hour_utc + INTERVAL {policy.use_by_months} MONTH,
                   production_hour_utc + INTERVAL {policy.expiry_months} MONTH,
                   NULL, NULL, NULL, NULL, NULL
            FROM (SELECT * FROM issue_rows ORDER BY device_id, range_start);
            UPDATE go_devices SET next_cert_id = go_devices.next_cert_id + t.total
            FROM (SELECT device_id, sum(q) AS total FROM issue_rows GROUP BY device_id) t
            WHERE go_devices.device_id = t.device_id;
            """,
            params,
        )
        if from_storage:
            _fail_if(
                con,
                "unknown_storage",
                "SELECT 'device ' || device_id || ' is not a registered storage device' "
                "FROM issue_rows ANTI JOIN go_storage USING (device_id) LIMIT 1",
            )
            con.execute(
                "UPDATE go_storage SET discharged_wh = go_storage.discharged_wh + t.total "
                "FROM (SELECT device_id, sum(q) AS total FROM issue_rows GROUP BY ALL) t "
                "WHERE go_storage.device_id = t.device_id"
            )
        _record_events(
            con,
            "issue",
            "SELECT b.bundle_id FROM go_bundles b JOIN issue_rows r USING (device_id, range_start)",
            now,
        )
        (n,) = con.execute("SELECT count(*) FROM issue_rows").fetchall()[0]
        con.execute("DROP TABLE issue_rows")
    return n


def _record_events(
    con: duckdb.DuckDBPyConnection,
    event_type: str,
    bundle_ids_sql: str,
    now: datetime,
    from_account_sql: str = "NULL",
    parent_sql: str = "NULL",
) -> None:
    con.execute(
        f"""
        INSERT INTO go_ledger_events
        SELECT nextval('go_event_seq'), '{event_type}', b.bundle_id, b.parent,
               b.range_start, b.range_end, b.quantity_wh, b.status, b.device_id, b.zone,
               b.production_hour_utc, b.account_id, b.from_account, b.beneficiary_site_id,
               b.consumption_hour_utc, b.from_storage, $now
        FROM (  -- ids follow the order of a sorted subquery, not of an outer ORDER BY
            SELECT b.*, {parent_sql} AS parent, {from_account_sql} AS from_account
            FROM go_bundles b JOIN ({bundle_ids_sql}) ids ON b.bundle_id = ids.bundle_id
            ORDER BY b.bundle_id
        ) b
        """,
        {"now": now},
    )


def apply(
    con: duckdb.DuckDBPyConnection, action: str, allocations: pl.DataFrame, now: datetime
) -> int:
    """Apply ``action`` to Wh taken from bundles, splitting bundles taken in part.

    Parameters
    ----------
    action : str
        ``transfer``, ``cancel``, ``store``, ``claim``, ``expire`` or ``withdraw``.
    allocations : pl.DataFrame
        bundle_id, take_wh [Wh] (the first take_wh of the bundle's range) and the
        action's own columns: to_account_id (transfer); beneficiary_site_id,
        consumption_hour_utc, consumption_zone (cancel); storage_device_id (store).
    now : datetime
        Time of the operation (UTC).

    Returns
    -------
    int
        Wh acted on.
    """
    spec = _ACTIONS[action]
    alloc = allocations.select(
        pl.col("bundle_id").cast(pl.Int64), pl.col("take_wh").cast(pl.Int64), *spec.columns
    )
    con.register("alloc", alloc)
    allowed = ", ".join(f"'{s}'" for s in spec.allowed)
    with transaction(con):
        _check_allocations(con, action, spec, allowed, now)
        _run(
            con,
            """
            CREATE OR REPLACE TEMP TABLE split_rows AS
            SELECT *, nextval('go_bundle_seq') AS taken_id, nextval('go_bundle_seq') AS rest_id
            FROM (SELECT b.*, a.take_wh FROM alloc a JOIN go_bundles b USING (bundle_id)
                  WHERE a.take_wh < b.quantity_wh ORDER BY b.bundle_id);
            DELETE FROM go_bundles WHERE bundle_id IN (SELECT bundle_id FROM split_rows);
            """,
        )
        con.execute(
            f"""
            INSERT INTO go_bundles (bundle_id, {_BUNDLE_COLUMNS})
            SELECT taken_id, device_id, range_start, range_start + take_wh - 1, take_wh,
                   {_BUNDLE_COLUMNS.replace("device_id, range_start, range_end, quantity_wh, ", "")}
            FROM split_rows
            UNION ALL
            SELECT rest_id, device_id, range_start + take_wh, range_end, quantity_wh - take_wh,
                   {_BUNDLE_COLUMNS.replace("device_id, range_start, range_end, quantity_wh, ", "")}
            FROM split_rows
            """
        )
        _record_events(
            con,
            "split",
            "SELECT taken_id AS bundle_id, bundle_id AS parent FROM split_rows "
            "UNION ALL SELECT rest_id, bundle_id FROM split_rows",
            now,
            parent_sql="ids.parent",
        )
        _run(
            con,
            f"""
            CREATE OR REPLACE TEMP TABLE targets AS
            SELECT coalesce(s.taken_id, a.bundle_id) AS bundle_id, a.take_wh,
                   coalesce(s.account_id, b.account_id) AS account_id
                   {"".join(f", a.{c}" for c in spec.columns)}
            FROM alloc a LEFT JOIN split_rows s ON s.bundle_id = a.bundle_id
            LEFT JOIN go_bundles b ON b.bundle_id = a.bundle_id;
            UPDATE go_bundles SET {spec.set_sql} FROM targets t
            WHERE go_bundles.bundle_id = t.bundle_id;
            """,
            {"now": now},
        )
        (first_event,) = con.execute(
            "SELECT coalesce(max(event_id), 0) FROM go_ledger_events"
        ).fetchall()[0]
        _record_events(
            con,
            action,
            "SELECT bundle_id, account_id FROM targets",
            now,
            from_account_sql="ids.account_id" if action == "transfer" else "NULL",
        )
        _apply_side_effects(con, action, first_event)
        (wh,) = con.execute("SELECT coalesce(sum(take_wh), 0) FROM targets").fetchall()[0]
        _run(con, "DROP TABLE split_rows; DROP TABLE targets")
    return int(wh)


def _check_allocations(con, action: str, spec: _Action, allowed: str, now: datetime) -> None:
    _fail_if(
        con,
        "unknown_bundle",
        "SELECT 'bundle ' || bundle_id || ' does not exist' FROM alloc "
        "ANTI JOIN go_bundles USING (bundle_id) LIMIT 1",
    )
    _fail_if(
        con,
        "bundle_twice_in_batch",
        "SELECT 'bundle ' || bundle_id || ' appears more than once' FROM alloc "
        "GROUP BY bundle_id HAVING count(*) > 1 LIMIT 1",
    )
    _fail_if(
        con,
        f"{action}_requires_{'_or_'.join(spec.allowed)}",
        f"SELECT 'cannot {action} bundle ' || bundle_id || ': it is ' || status "
        f"FROM alloc JOIN go_bundles USING (bundle_id) WHERE status NOT IN ({allowed}) LIMIT 1",
    )
    _fail_if(
        con,
        f"{action}_exceeds_bundle",
        f"SELECT 'cannot {action} ' || a.take_wh || ' Wh of bundle ' || bundle_id || "
        "' holding ' || b.quantity_wh || ' Wh' FROM alloc a JOIN go_bundles b USING (bundle_id) "
        "WHERE a.take_wh < 1 OR a.take_wh > b.quantity_wh LIMIT 1",
    )
    if not spec.partial:
        _fail_if(
            con,
            f"{action}_whole_bundles_only",
            f"SELECT '{action} takes whole bundles; bundle ' || bundle_id || ' was given ' || "
            "a.take_wh || ' of ' || b.quantity_wh || ' Wh' "
            "FROM alloc a JOIN go_bundles b USING (bundle_id) WHERE a.take_wh <> b.quantity_wh "
            "LIMIT 1",
        )
    if action == "cancel":
        _check_cancel(con, now)
    if action == "store":
        _fail_if(
            con,
            "unknown_storage",
            "SELECT 'device ' || storage_device_id || ' is not a registered storage device' "
            "FROM alloc a ANTI JOIN go_storage s ON s.device_id = a.storage_device_id LIMIT 1",
        )


def _check_cancel(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    joined = "FROM alloc a JOIN go_bundles b USING (bundle_id)"
    _fail_if(
        con,
        "cancel_hour_mismatch",
        "SELECT 'bundle ' || bundle_id || ' was produced in hour ' || b.production_hour_utc || "
        f"' and cannot cover consumption in ' || a.consumption_hour_utc {joined} "
        "WHERE a.consumption_hour_utc <> b.production_hour_utc LIMIT 1",
    )
    _fail_if(
        con,
        "cancel_zone_mismatch",
        "SELECT 'bundle ' || bundle_id || ' is from zone ' || b.zone || "
        f"' and cannot cover consumption in ' || a.consumption_zone {joined} "
        "WHERE a.consumption_zone <> b.zone LIMIT 1",
    )
    _fail_if(
        con,
        "cancel_after_use_by",
        "SELECT 'bundle ' || bundle_id || ' could be used until ' || b.use_by_utc "
        f"{joined} WHERE b.use_by_utc < $now LIMIT 1",
        {"now": now},
    )
    _fail_if(
        con,
        "no_metered_consumption",
        "SELECT 'no metered consumption of ' || a.beneficiary_site_id || ' in hour ' || "
        "a.consumption_hour_utc || ' zone ' || a.consumption_zone FROM alloc a "
        "ANTI JOIN go_consumption c ON c.site_id = a.beneficiary_site_id "
        "AND c.consumption_hour_utc = a.consumption_hour_utc AND c.zone = a.consumption_zone "
        "LIMIT 1",
    )
    _fail_if(
        con,
        "cancel_exceeds_consumption",
        "SELECT a.site_id || ' consumed ' || round(c.metered_wh, 1) || ' Wh in hour ' "
        "|| c.consumption_hour_utc || '; ' || c.cancelled_wh || ' Wh are already covered and ' "
        "|| a.wh || ' more were asked' FROM (SELECT beneficiary_site_id AS site_id, "
        "consumption_hour_utc, sum(take_wh) AS wh FROM alloc GROUP BY ALL) a "
        "JOIN go_consumption c USING (site_id, consumption_hour_utc) "
        "WHERE c.cancelled_wh + a.wh > c.metered_wh LIMIT 1",
    )


def _apply_side_effects(con: duckdb.DuckDBPyConnection, action: str, first_event: int) -> None:
    if action == "cancel":
        con.execute(
            "UPDATE go_consumption SET cancelled_wh = go_consumption.cancelled_wh + t.wh "
            "FROM (SELECT beneficiary_site_id, consumption_hour_utc, sum(take_wh) AS wh "
            "FROM targets GROUP BY ALL) t WHERE go_consumption.site_id = t.beneficiary_site_id "
            "AND go_consumption.consumption_hour_utc = t.consumption_hour_utc"
        )
    elif action == "store":
        con.execute(
            "UPDATE go_storage SET charged_wh = go_storage.charged_wh + t.wh "
            "FROM (SELECT storage_device_id, sum(take_wh) AS wh FROM targets GROUP BY ALL) t "
            "WHERE go_storage.device_id = t.storage_device_id"
        )
    elif action == "transfer":
        con.execute(
            """
            INSERT INTO go_transfer_outbox
            SELECT nextval('go_transfer_seq'), e.event_id, e.bundle_id, e.from_account_id,
                   e.account_id, e.device_id, e.zone, e.production_hour_utc, e.range_start,
                   e.range_end, e.quantity_wh, e.recorded_at_utc, NULL
            FROM go_ledger_events e JOIN targets t USING (bundle_id)
            WHERE e.event_type = 'transfer' AND e.event_id > $first
            ORDER BY e.event_id
            """,
            {"first": first_event},
        )


def _one(
    bundle_id: int, take_wh: int | None, con: duckdb.DuckDBPyConnection, **cols
) -> pl.DataFrame:
    if take_wh is None:
        rows = con.execute(
            "SELECT quantity_wh FROM go_bundles WHERE bundle_id = ?", [bundle_id]
        ).fetchall()
        take_wh = rows[0][0] if rows else 1
    return pl.DataFrame(
        {"bundle_id": [bundle_id], "take_wh": [take_wh], **{k: [v] for k, v in cols.items()}}
    )


def transfer(con, bundle_id: int, to_account_id: str, now: datetime, wh: int | None = None) -> int:
    """Transfer ``wh`` [Wh] (default all) of an active bundle to another account."""
    return apply(con, "transfer", _one(bundle_id, wh, con, to_account_id=to_account_id), now)


def cancel(
    con,
    bundle_id: int,
    beneficiary_site_id: str,
    consumption_hour_utc: datetime,
    consumption_zone: str,
    now: datetime,
    wh: int | None = None,
) -> int:
    """Cancel ``wh`` [Wh] (default all) of a bundle against a site's metered consumption."""
    frame = _one(
        bundle_id,
        wh,
        con,
        beneficiary_site_id=beneficiary_site_id,
        consumption_hour_utc=consumption_hour_utc,
        consumption_zone=consumption_zone,
    )
    return apply(con, "cancel", frame, now)


def store(con, bundle_id: int, storage_device_id: str, now: datetime, wh: int | None = None) -> int:
    """Charge ``wh`` [Wh] (default all) of a bundle into a storage device."""
    frame = _one(bundle_id, wh, con, storage_device_id=storage_device_id)
    return apply(con, "store", frame, now)


def claim(con, bundle_id: int, now: datetime) -> int:
    """Claim a cancelled bundle."""
    return apply(con, "claim", _one(bundle_id, None, con), now)


def withdraw(con, bundle_id: int, now: datetime) -> int:
    """Withdraw an active bundle (a registry correction); withdrawn is terminal."""
    return apply(con, "withdraw", _one(bundle_id, None, con), now)


def expire(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    """Mark every active bundle whose expiry date has passed as expired; returns Wh."""
    due = con.sql(
        "SELECT bundle_id, quantity_wh AS take_wh FROM go_bundles "
        "WHERE status = 'active' AND expires_at_utc <= ?",
        params=[as_of],
    ).pl()
    return apply(con, "expire", due, as_of) if due.height else 0


def cancel_for_consumption(
    con: duckdb.DuckDBPyConnection, demand: pl.DataFrame, now: datetime
) -> int:
    """Cancel an account's certificates against consumption, hour by hour, as far as they go.

    Parameters
    ----------
    demand : pl.DataFrame
        account_id, site_id (the beneficiary), hour_utc, zone and wh [Wh]: at most one row
        per account, hour and zone. Active bundles of the account produced in that hour
        and zone, before their use-by date, are cancelled in device and id order until
        ``wh`` is covered or they run out.

    Returns
    -------
    int
        Wh cancelled.
    """
    dem = demand.select(
        "account_id",
        "site_id",
        "hour_utc",
        "zone",
        pl.col("wh").cast(pl.Float64).floor().cast(pl.Int64),
    )
    con.register("dem", dem)
    if demand.select(pl.struct("account_id", "hour_utc", "zone").is_duplicated().any()).item():
        raise LedgerRuleError("demand_twice_in_batch", "one demand row per account, hour and zone")
    alloc = con.sql(
        """
        SELECT bundle_id, least(quantity_wh, wh - before) AS take_wh,
               site_id AS beneficiary_site_id, hour_utc AS consumption_hour_utc,
               zone AS consumption_zone
        FROM (
            SELECT b.bundle_id, b.quantity_wh, d.site_id, d.hour_utc, d.zone, d.wh,
                   sum(b.quantity_wh) OVER (
                       PARTITION BY d.account_id, d.hour_utc, d.zone
                       ORDER BY b.device_id, b.range_start) - b.quantity_wh AS before
            FROM dem d JOIN go_bundles b
              ON b.account_id = d.account_id AND b.production_hour_utc = d.hour_utc
             AND b.zone = d.zone AND b.status = 'active' AND b.use_by_utc >= $now
            WHERE d.wh > 0
        ) WHERE before < wh
        """,
        params={"now": now},
    ).pl()
    return apply(con, "cancel", alloc, now) if alloc.height else 0


def transfer_bundles(
    con: duckdb.DuckDBPyConnection, bundle_ids: list[int], to_account_id: str, now: datetime
) -> int:
    """Transfer whole bundles to ``to_account_id``; returns Wh transferred."""
    alloc = con.sql(
        "SELECT bundle_id, quantity_wh AS take_wh, ? AS to_account_id FROM go_bundles "
        "WHERE bundle_id IN (SELECT unnest(?))",
        params=[to_account_id, bundle_ids],
    ).pl()
    if alloc.height != len(set(bundle_ids)):
        raise LedgerRuleError("unknown_bundle", "some bundles do not exist")
    return apply(con, "transfer", alloc, now) if alloc.height else 0
