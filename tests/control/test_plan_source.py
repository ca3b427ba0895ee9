from datetime import UTC, datetime, timedelta

import polars as pl

from control.plan_source import LakePlanSource, slot_start
from pipelines import lake

DAY = datetime(2025, 6, 1, tzinfo=UTC)


def plan_rows(plan_id, kind, created, valid_from, valid_until, powers):
    rows = []
    t = valid_from
    while t < valid_until:
        for device, p in powers.items():
            rows.append(
                dict(
                    site_id="site-a",
                    plan_id=plan_id,
                    kind=kind,
                    created_at_utc=created,
                    valid_from_utc=valid_from,
                    valid_until_utc=valid_until,
                    device_id=device,
                    slot_start_utc=t,
                    power_w=p,
                )
            )
        t += timedelta(minutes=15)
    return pl.DataFrame(rows)


def write(root, frame):
    lake.merge_days(root, "setpoint_plans", frame)


def test_slot_start_floors_to_quarter_hours():
    assert slot_start(DAY + timedelta(minutes=29, seconds=59)) == DAY + timedelta(minutes=15)


def test_newest_plan_created_by_the_slot_start_is_in_force(tmp_path):
    da = plan_rows(
        "da",
        "day_ahead",
        DAY - timedelta(hours=12),
        DAY,
        DAY + timedelta(days=1),
        {"battery-1": 1000.0, "charger-1": 7000.0},
    )
    intraday = plan_rows(
        "id1",
        "intraday",
        DAY + timedelta(hours=10),
        DAY + timedelta(hours=10),
        DAY + timedelta(hours=14),
        {"battery-1": -3000.0},
    )
    write(tmp_path, pl.concat([da, intraday]))
    src = LakePlanSource(tmp_path, "site-a")
    early = src.slot_at(DAY + timedelta(hours=9, minutes=50))
    assert early.plan_id == "da" and early.power_w == {"battery-1": 1000.0, "charger-1": 7000.0}
    later = src.slot_at(DAY + timedelta(hours=10, minutes=20))
    assert later.plan_id == "id1"
    assert later.power_w == {"battery-1": -3000.0, "charger-1": 7000.0}
    assert later.slot_start == DAY + timedelta(hours=10, minutes=15)
    assert later.slot_end == DAY + timedelta(hours=10, minutes=30)
    assert src.info.kind == "intraday"


def test_no_plan_or_an_expired_plan_gives_none(tmp_path):
    src = LakePlanSource(tmp_path, "site-a")
    assert src.slot_at(DAY) is None and src.info is None
    write(
        tmp_path,
        plan_rows(
            "da",
            "day_ahead",
            DAY - timedelta(hours=1),
            DAY,
            DAY + timedelta(hours=1),
            {"battery-1": 1.0},
        ),
    )
    assert LakePlanSource(tmp_path, "site-a").slot_at(DAY + timedelta(hours=1)) is None
    assert LakePlanSource(tmp_path, "other").slot_at(DAY) is None


def test_reads_are_cached_per_slot_and_refreshed(tmp_path):
    src = LakePlanSource(tmp_path, "site-a", refresh_s=60)
    assert src.slot_at(DAY) is None
    write(
        tmp_path,
        plan_rows(
            "da",
            "day_ahead",
            DAY - timedelta(hours=1),
            DAY,
            DAY + timedelta(hours=1),
            {"battery-1": 1.0},
        ),
    )
    assert src.slot_at(DAY + timedelta(seconds=30)) is None  # cached
    assert src.reads == 1
    assert src.slot_at(DAY + timedelta(seconds=61)).plan_id == "da"  # refreshed
    assert src.slot_at(DAY + timedelta(seconds=90)).plan_id == "da"
    assert src.reads == 2
    src.slot_at(DAY + timedelta(minutes=15))  # a new slot reads again
    assert src.reads == 3
