"""The SunSpec register map against the SunSpec Alliance's model JSON (shipped in pysunspec2)."""

import json
from pathlib import Path

import pytest
import sunspec2
from hypothesis import given
from hypothesis import strategies as st

from control.adapters import sunspec_registers as reg

JSON_DIR = Path(sunspec2.__file__).parent / "models" / "json"


def json_layout(model_id: int) -> tuple[int, dict[str, dict]]:
    """(L, {point name: point def with its offset}) from the official model definition."""
    group = json.loads((JSON_DIR / f"model_{model_id}.json").read_text())["group"]
    offset, points = 0, {}
    for p in group["points"]:
        points[p["name"]] = {**p, "offset": offset}
        offset += p["size"]
    return offset - 2, points


@pytest.mark.parametrize("model_id", sorted(reg.MODELS))
def test_model_matches_sunspec_json(model_id):
    model = reg.MODELS[model_id]
    length, points = json_layout(model_id)
    assert model.length == length
    for p in model.points.values():
        official = points[p.name]
        assert p.offset == official["offset"], p.name
        assert p.type == official["type"], p.name
        assert p.size == official["size"], p.name
        assert p.sf == official.get("sf"), p.name
        if p.sf:
            assert points[p.sf]["type"] == "sunssf"


@pytest.mark.parametrize("model_id", [1, 103, 120, 123, 124, 713, 802])
def test_undeclared_registers_of_simulated_models_fill_as_unimplemented(model_id):
    model = reg.MODELS[model_id]
    _, points = json_layout(model_id)
    declared = {p.name for p in model.points.values()} | {"ID", "L"}
    signed = tuple(
        p["offset"]
        for p in points.values()
        if p["name"] not in declared and p["type"] in {"int16", "sunssf", "pad"}
    )
    assert model.signed_gaps == signed
    strings = [p["name"] for p in points.values() if p["type"] == "string"]
    assert set(strings) <= declared  # 0xFFFF filler is not a valid string


def test_domain_reference_offsets():
    assert reg.COMMON.length == 66 and reg.COMMON["DA"].offset == 66
    assert (reg.INVERTER_3PH["W"].offset, reg.INVERTER_3PH["WH"].offset) == (14, 24)
    assert reg.CONTROLS["WMaxLimPct"].offset == 5
    assert reg.CONTROLS["WMaxLimPct_RvrtTms"].offset == 7
    assert reg.CONTROLS["WMaxLim_Ena"].offset == 9
    assert reg.CONTROLS["WMaxLimPct_SF"].offset == 23
    assert (reg.STORAGE["StorCtl_Mod"].offset, reg.STORAGE["ChaState"].offset) == (5, 8)
    assert (reg.STORAGE["OutWRte"].offset, reg.STORAGE["InWRte"].offset) == (12, 13)
    assert reg.STORAGE["InOutWRte_SF"].offset == 25


@pytest.mark.parametrize(
    ("type_", "registers", "expected"),
    [
        ("uint16", [0xFFFF], None),
        ("uint16", [0xFFFE], 0xFFFE),
        ("int16", [0x8000], None),
        ("int16", [0xFFFF], -1),
        ("int16", [0x7FFF], 32767),
        ("sunssf", [0x8000], None),
        ("sunssf", [0xFFFE], -2),
        ("enum16", [0xFFFF], None),
        ("bitfield16", [0x0003], 3),
        ("acc32", [0, 0], None),
        ("acc32", [0x0001, 0x0002], 0x10002),
        ("uint32", [0xFFFF, 0xFFFF], None),
        ("int32", [0x8000, 0x0000], None),
        ("int32", [0xFFFF, 0xFFFE], -2),
        ("uint64", [0xFFFF] * 4, None),
        ("uint64", [0, 0, 1, 0], 0x10000),
    ],
)
def test_decode_unimplemented_and_signs(type_, registers, expected):
    assert reg.decode(reg.Point("x", 0, type_), registers) == expected


def test_decode_string():
    point = reg.Point("Mn", 2, "string", size=4)
    assert reg.decode(point, reg.encode(point, "SunS")) == "SunS"
    assert reg.decode(point, [0x4142, 0x4300, 0, 0]) == "ABC"
    assert reg.decode(point, [0, 0, 0, 0]) is None


@pytest.mark.parametrize(
    ("raw", "sf", "expected"),
    [(2500, 1, 25000.0), (400, -1, 40.0), (-123, -2, -1.23), (None, 0, None), (5, None, None)],
)
def test_scale(raw, sf, expected):
    result = reg.scale(raw, sf)
    assert result is None if expected is None else result == pytest.approx(expected)


def test_read_scaled_from_block_uses_the_models_scale_factor():
    model = reg.CONTROLS
    block = [123, 24] + [0xFFFF] * 24
    block[5], block[23] = 405, 0xFFFF  # WMaxLimPct 405 at SF -1
    assert reg.read_scaled(model, block, "WMaxLimPct") == pytest.approx(40.5)
    block[23] = 0x8000  # SF unimplemented: the value is unusable
    assert reg.read_scaled(model, block, "WMaxLimPct") is None
    block[23], block[5] = 0, 0xFFFF
    assert reg.read_scaled(model, block, "WMaxLimPct") is None


@given(
    st.sampled_from(["uint16", "int16", "acc32", "uint32", "int32", "uint64"]).flatmap(
        lambda t: st.tuples(
            st.just(t),
            st.integers(0, 2 ** (16 * reg.TYPE_SIZE[t]) - 1)
            if t in {"uint16", "acc32", "uint32", "uint64"}
            else st.integers(
                -(2 ** (16 * reg.TYPE_SIZE[t] - 1)), 2 ** (16 * reg.TYPE_SIZE[t] - 1) - 1
            ),
        )
    )
)
def test_encode_decode_roundtrip(case):
    type_, value = case
    point = reg.Point("x", 0, type_)
    decoded = reg.decode(point, reg.encode(point, value))
    assert decoded == (None if value == reg.UNIMPLEMENTED[type_] else value)


def test_encode_rejects_out_of_range():
    with pytest.raises(ValueError):
        reg.encode(reg.Point("x", 0, "int16"), 40000)
    with pytest.raises(ValueError):
        reg.encode(reg.Point("x", 0, "uint16"), -1)
