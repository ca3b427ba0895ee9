from datetime import UTC, datetime, timedelta

import polars as pl

from control.commands import COMMANDS, EVENTS, CommandRecorder, landed_files, read_landed

T0 = datetime(2025, 6, 1, 23, 59, 59, tzinfo=UTC)


def command(i: int, sent_at: datetime) -> dict:
    return {
        "command_id": f"c{i}",
        "plan_id": "p1",
        "device_id": "battery-1",
        "protocol": "sunspec",
        "sent_at_utc": sent_at,
        "power_w": 1000.0,
        "valid_until_utc": sent_at + timedelta(minutes=15),
        "setpoint_source": "plan",
        "send_reason": "new",
        "payload": "{}",
        "ack_status": "Accepted",
        "acked_at_utc": sent_at,
        "detail": "{}",
    }


def test_commands_land_per_utc_day_and_read_back(tmp_path):
    rec = CommandRecorder(tmp_path, "site-a")
    rec.record_commands([command(1, T0), command(2, T0 + timedelta(seconds=2))])
    day1, day2 = T0.date(), (T0 + timedelta(days=1)).date()
    assert len(landed_files(tmp_path, COMMANDS, "site-a", day1)) == 1
    assert len(landed_files(tmp_path, COMMANDS, "site-a", day2)) == 1
    frame = read_landed(tmp_path, COMMANDS, "site-a", [day1, day2])
    assert frame["command_id"].to_list() == ["c1", "c2"]
    assert frame.schema["sent_at_utc"] == pl.Datetime("us", "UTC")
    assert read_landed(tmp_path, COMMANDS, "site-a", [day1])["command_id"].to_list() == ["c1"]


def test_a_restarted_writer_never_overwrites_and_duplicates_collapse(tmp_path):
    CommandRecorder(tmp_path, "site-a").record_commands([command(1, T0)])
    CommandRecorder(tmp_path, "site-a").record_commands([command(1, T0)])  # same name, seq 0
    files = landed_files(tmp_path, COMMANDS, "site-a", T0.date())
    assert len(files) == 2
    assert read_landed(tmp_path, COMMANDS, "site-a", [T0.date()]).height == 1
    assert not list(files[0].parent.glob(".tmp-*"))


def test_events_are_landed_and_seed_recent_events_after_a_restart(tmp_path):
    rec = CommandRecorder(tmp_path, "site-a")
    rec.record_events(
        [
            rec.event(T0, "island_transition", None, to="island"),
            rec.event(T0, "device_offline", "x"),
        ]
    )
    assert [e["event_type"] for e in rec.recent_events()] == ["device_offline", "island_transition"]
    again = CommandRecorder(tmp_path, "site-a", now=T0 + timedelta(hours=1))
    assert {e["event_type"] for e in again.recent_events()} == {
        "island_transition",
        "device_offline",
    }
    assert [e["device_id"] for e in again.recent_events(event_type="device_offline")] == ["x"]
    assert read_landed(tmp_path, EVENTS, "site-a", [T0.date()]).height == 2


def test_empty_batches_write_nothing(tmp_path):
    assert CommandRecorder(tmp_path, "site-a").record_commands([]) == []
    assert read_landed(tmp_path, COMMANDS, "site-a", [T0.date()]).is_empty()
