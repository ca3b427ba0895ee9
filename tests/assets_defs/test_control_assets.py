"""device_commands and control_events: the service's landed batches into the lake, per day."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from assets_defs.control.assets import control_events, device_commands
from assets_defs.resources import LakeResource, SiteResource
from control.commands import CommandRecorder
from novaenergy.demo import instance_with_sites
from pipelines import lake

T0 = datetime(2025, 6, 1, 23, 59, 58, tzinfo=UTC)


def command(i, at, status="Accepted"):
    return {
        "command_id": f"c{i}",
        "plan_id": "p1",
        "device_id": "battery-1",
        "protocol": "sunspec",
        "sent_at_utc": at,
        "power_w": 1000.0 * i,
        "valid_until_utc": at + timedelta(minutes=15),
        "setpoint_source": "plan",
        "send_reason": "new",
        "payload": "{}",
        "ack_status": status,
        "acked_at_utc": at,
        "detail": "{}",
    }


def materialize(tmp_path, day):
    resources = {
        "lake_store": LakeResource(root=str(tmp_path / "lake"), raw_root=str(tmp_path / "raw")),
        "site": SiteResource(site_id="site-a"),
    }
    return dg.materialize(
        [device_commands, control_events],
        resources=resources,
        partition_key=f"{day}|site-a",
        instance=instance_with_sites(["site-a"]),
    )


def test_landed_batches_become_one_partition_per_day(tmp_path):
    rec = CommandRecorder(tmp_path / "raw", "site-a")
    rec.record_commands([command(1, T0), command(2, T0, "Rejected")])
    rec.record_commands([command(1, T0)])  # a batch landed twice: one row per key
    rec.record_commands([command(3, T0 + timedelta(seconds=5))])  # the next UTC day
    rec.record_events([rec.event(T0, "island_transition", None, to="island")])

    result = materialize(tmp_path, "2025-06-01")
    assert result.success
    meta = result.asset_materializations_for_node("device_commands")[0].metadata
    assert meta["dagster/row_count"].value == 2 and meta["not_accepted"].value == 1
    assert meta["batch_files"].value == 2
    day = T0.date()
    cmds = lake.read_partition(tmp_path / "lake", "device_commands", "site-a", day)
    assert cmds["command_id"].to_list() == ["c1", "c2"]
    events = lake.read_partition(tmp_path / "lake", "control_events", "site-a", day)
    assert events["event_type"].to_list() == ["island_transition"]

    again = materialize(tmp_path, "2025-06-01")  # re-running gives the same bytes
    assert again.success
    assert lake.read_partition(tmp_path / "lake", "device_commands", "site-a", day).equals(cmds)
    nxt = materialize(tmp_path, "2025-06-02")
    assert nxt.success
    nxt_day = lake.read_partition(
        tmp_path / "lake", "device_commands", "site-a", day + timedelta(1)
    )
    assert nxt_day["command_id"].to_list() == ["c3"]


def test_a_day_without_files_writes_no_partition(tmp_path):
    assert materialize(tmp_path, "2025-06-03").success
    assert lake.dataset_files(tmp_path / "lake", "device_commands") == []
