"""SunSpec register map, declared once: models, point offsets, types, units, scale factors.

A SunSpec device starts at a base register (40000, else 0 or 50000) with "SunS"
(0x5375 0x6E53), followed by a chain of models ``[ID, L, L registers]`` ended by
``0xFFFF 0x0000``. ``L`` does not count the two header registers. Every offset below is
counted from the model's ID register (ID at +0, L at +1), as in the SunSpec model JSON
shipped with pysunspec2 (``tests/control/adapters/test_sunspec_registers.py`` checks them).

Only the points this project reads or writes are declared. A value is ``raw × 10^SF``,
where SF is the model's ``sunssf`` point named in ``Point.sf``; unimplemented values
(0xFFFF uint16, 0x8000 int16/sunssf, 0 acc32, 0xFFFFFFFF uint32, ...) decode to None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL_ID = 0xFFFF
BASE_ADDRESSES = (40000, 0, 50000)
MAX_READ_REGISTERS = 125  # Modbus limit of one read holding registers request

# registers per point type (strings carry their own size)
TYPE_SIZE = {
    "uint16": 1,
    "int16": 1,
    "enum16": 1,
    "bitfield16": 1,
    "sunssf": 1,
    "pad": 1,
    "acc32": 2,
    "uint32": 2,
    "int32": 2,
    "bitfield32": 2,
    "uint64": 4,
}

# raw value meaning "not implemented", per type (strings: all NUL)
UNIMPLEMENTED = {
    "uint16": 0xFFFF,
    "enum16": 0xFFFF,
    "bitfield16": 0xFFFF,
    "int16": -0x8000,
    "sunssf": -0x8000,
    "acc32": 0,
    "uint32": 0xFFFFFFFF,
    "bitfield32": 0xFFFFFFFF,
    "int32": -0x80000000,
    "uint64": 0xFFFFFFFFFFFFFFFF,
    "pad": 0x8000,
}

SIGNED = {"int16", "sunssf", "int32"}


@dataclass(frozen=True)
class Point:
    """One SunSpec point.

    Parameters
    ----------
    name : str
        SunSpec point name, e.g. ``WMaxLimPct``.
    offset : int
        Offset from the model's ID register [registers].
    type : str
        SunSpec type: uint16, int16, enum16, bitfield16, sunssf, acc32, uint32, int32,
        bitfield32, uint64 or string.
    units : str or None
        Unit of the scaled value, e.g. ``W``, ``Wh``, ``%``, ``s``.
    sf : str or None
        Name of the scale-factor point (``sunssf``) in the same model.
    size : int
        Length [registers]; derived from the type except for strings.
    """

    name: str
    offset: int
    type: str
    units: str | None = None
    sf: str | None = None
    size: int = 0

    def __post_init__(self) -> None:
        if self.type != "string":
            object.__setattr__(self, "size", TYPE_SIZE[self.type])
        elif self.size <= 0:
            raise ValueError(f"string point {self.name} needs a size")


@dataclass(frozen=True)
class Model:
    """One SunSpec model: id, length L [registers, without the 2 header registers], points."""

    id: int
    length: int
    name: str
    points: dict[str, Point] = field(default_factory=dict)
    # offsets of undeclared registers whose unimplemented value is 0x8000 (int16, sunssf,
    # pad); any other undeclared register is unimplemented as 0xFFFF. Lets a simulator
    # serve a whole model that strict readers (pysunspec2) decode without errors.
    signed_gaps: tuple[int, ...] = ()

    def __getitem__(self, name: str) -> Point:
        return self.points[name]


def _model(
    model_id: int, length: int, name: str, *points: Point, signed_gaps: tuple[int, ...] = ()
) -> Model:
    return Model(model_id, length, name, {p.name: p for p in points}, signed_gaps)


def _inverter(model_id: int, name: str) -> Model:
    # 101 (single phase), 102 (split phase) and 103 (three phase) share this layout
    return _model(
        model_id,
        50,
        name,
        Point("W", 14, "int16", "W", "W_SF"),  # AC power, positive = export
        Point("W_SF", 15, "sunssf"),
        Point("WH", 24, "acc32", "Wh", "WH_SF"),  # lifetime AC energy exported
        Point("WH_SF", 26, "sunssf"),
        Point("St", 38, "enum16"),  # 1 off, 2 sleeping, 4 MPPT, 5 throttled, 7 fault, 8 standby
        signed_gaps=(6, 13, 17, 18, 19, 20, 21, 22, 23, 28, 30, 31, 32, 33, 34, 35, 36, 37),
    )


COMMON = _model(
    1,
    66,
    "common",
    Point("Mn", 2, "string", size=16),  # manufacturer
    Point("Md", 18, "string", size=16),  # model
    Point("Opt", 34, "string", size=8),  # options
    Point("Vr", 42, "string", size=8),  # version
    Point("SN", 50, "string", size=16),  # serial number
    Point("DA", 66, "uint16"),  # Modbus device address
    signed_gaps=(67,),
)

INVERTER_1PH = _inverter(101, "inverter_single_phase")
INVERTER_SPLIT = _inverter(102, "inverter_split_phase")
INVERTER_3PH = _inverter(103, "inverter_three_phase")

DER_AC_MEASUREMENT = _model(
    701,
    153,
    "der_ac_measurement",
    Point("InvSt", 4, "enum16"),
    Point("W", 10, "int16", "W", "W_SF"),  # AC power, positive = export
    Point("TotWhInj", 19, "uint64", "Wh", "TotWh_SF"),  # energy injected into the grid
    Point("TotWhAbs", 23, "uint64", "Wh", "TotWh_SF"),  # energy absorbed from the grid
    Point("W_SF", 116, "sunssf"),
    Point("TotWh_SF", 120, "sunssf"),
)

NAMEPLATE = _model(
    120,
    26,
    "nameplate",
    Point("DERTyp", 2, "enum16"),  # 4 PV, 82 PV + storage
    Point("WRtg", 3, "uint16", "W", "WRtg_SF"),  # continuous power rating
    Point("WRtg_SF", 4, "sunssf"),
    Point("WHRtg", 19, "uint16", "Wh", "WHRtg_SF"),  # storage energy rating
    Point("WHRtg_SF", 20, "sunssf"),
    signed_gaps=(6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 22, 24, 26, 27),
)

DER_CAPACITY = _model(
    702,
    50,
    "der_capacity",
    Point("WMaxRtg", 2, "uint16", "W", "W_SF"),  # active power rating
    Point("WChaRteMaxRtg", 10, "uint16", "W", "W_SF"),
    Point("WDisChaRteMaxRtg", 11, "uint16", "W", "W_SF"),
    Point("WMax", 26, "uint16", "W", "W_SF"),  # active power setting
    Point("W_SF", 45, "sunssf"),
)

CONTROLS = _model(
    123,
    24,
    "immediate_controls",
    Point("Conn_RvrtTms", 3, "uint16", "s"),
    Point("Conn", 4, "enum16"),  # 0 disconnect, 1 connect
    Point("WMaxLimPct", 5, "uint16", "%", "WMaxLimPct_SF"),  # % of WMax (WRtg)
    Point("WMaxLimPct_WinTms", 6, "uint16", "s"),
    Point("WMaxLimPct_RvrtTms", 7, "uint16", "s"),  # 0 = no revert
    Point("WMaxLimPct_RmpTms", 8, "uint16", "s"),
    Point("WMaxLim_Ena", 9, "enum16"),  # 0 disabled, 1 enabled
    Point("WMaxLimPct_SF", 23, "sunssf"),
    signed_gaps=(10, 15, 16, 17, 24, 25),
)

STORAGE = _model(
    124,
    24,
    "basic_storage_controls",
    Point("WChaMax", 2, "uint16", "W", "WChaMax_SF"),  # max charge (and discharge) rate
    Point("StorCtl_Mod", 5, "bitfield16"),  # bit0 charge limit active, bit1 discharge limit
    Point("MinRsvPct", 7, "uint16", "%", "MinRsvPct_SF"),
    Point("ChaState", 8, "uint16", "%", "ChaState_SF"),  # state of charge
    Point("ChaSt", 11, "enum16"),  # 1 off, 2 empty, 3 discharging, 4 charging, 5 full, 6 holding
    Point("OutWRte", 12, "int16", "%", "InOutWRte_SF"),  # max discharge rate, % of WChaMax
    Point("InWRte", 13, "int16", "%", "InOutWRte_SF"),  # max charge rate, % of WChaMax
    Point("InOutWRte_WinTms", 14, "uint16", "s"),
    Point("InOutWRte_RvrtTms", 15, "uint16", "s"),  # 0 = no revert
    Point("InOutWRte_RmpTms", 16, "uint16", "s"),
    Point("ChaGriSet", 17, "enum16"),  # 0 PV only, 1 grid charging allowed
    Point("WChaMax_SF", 18, "sunssf"),
    Point("MinRsvPct_SF", 21, "sunssf"),
    Point("ChaState_SF", 22, "sunssf"),
    Point("InOutWRte_SF", 25, "sunssf"),
    signed_gaps=(19, 20, 23, 24),
)

STORAGE_CAPACITY = _model(
    713,
    7,
    "der_storage_capacity",
    Point("WHRtg", 2, "uint16", "Wh", "WH_SF"),
    Point("WHAvail", 3, "uint16", "Wh", "WH_SF"),
    Point("SoC", 4, "uint16", "%", "Pct_SF"),
    Point("SoH", 5, "uint16", "%", "Pct_SF"),
    Point("Sta", 6, "enum16"),
    Point("WH_SF", 7, "sunssf"),
    Point("Pct_SF", 8, "sunssf"),
)

BATTERY = _model(
    802,
    62,
    "battery",
    Point("WHRtg", 3, "uint16", "Wh", "WHRtg_SF"),
    Point("WChaRteMax", 4, "uint16", "W", "WChaDisChaMax_SF"),
    Point("WDisChaRteMax", 5, "uint16", "W", "WChaDisChaMax_SF"),
    Point("SoCMax", 7, "uint16", "%", "SoC_SF"),
    Point("SoCMin", 8, "uint16", "%", "SoC_SF"),
    Point("SoC", 11, "uint16", "%", "SoC_SF"),
    Point("ChaSt", 16, "enum16"),
    Point("State", 22, "enum16"),  # 3 connected
    Point("WHRtg_SF", 53, "sunssf"),
    Point("WChaDisChaMax_SF", 54, "sunssf"),
    Point("SoC_SF", 56, "sunssf"),
    signed_gaps=(44, 47, 49, 52, 55, 57, 58, 59, 60, 61, 62, 63),
)

METER_3PH_WYE = _model(
    203,
    105,
    "ac_meter_three_phase_wye",
    Point("PhV", 7, "int16", "V", "V_SF"),  # line-to-neutral voltage, average of phases
    Point("PhVphA", 8, "int16", "V", "V_SF"),
    Point("PhVphB", 9, "int16", "V", "V_SF"),
    Point("PhVphC", 10, "int16", "V", "V_SF"),
    Point("V_SF", 15, "sunssf"),
    Point("Hz", 16, "int16", "Hz", "Hz_SF"),
    Point("Hz_SF", 17, "sunssf"),
    Point("W", 18, "int16", "W", "W_SF"),  # total real power, positive = import
    Point("W_SF", 22, "sunssf"),
    signed_gaps=(*range(2, 7), *range(11, 15), 19, 20, 21, *range(23, 38), 54, 71, 104),
)

MODELS: dict[int, Model] = {
    m.id: m
    for m in (
        COMMON,
        INVERTER_1PH,
        INVERTER_SPLIT,
        INVERTER_3PH,
        DER_AC_MEASUREMENT,
        NAMEPLATE,
        DER_CAPACITY,
        CONTROLS,
        STORAGE,
        STORAGE_CAPACITY,
        BATTERY,
        METER_3PH_WYE,
    )
}

INVERTER_MODEL_IDS = (103, 101, 102, 701)  # preference order for AC measurements

# StorCtl_Mod bits
STORCTL_CHARGE = 0x1
STORCTL_DISCHARGE = 0x2


def decode(point: Point, registers: list[int]) -> int | str | None:
    """Decode one point from its registers; unimplemented values become None.

    Parameters
    ----------
    point : Point
        The point.
    registers : list of int
        Exactly ``point.size`` 16-bit registers, big-endian word order.

    Returns
    -------
    int, str or None
        The raw (unscaled) integer, the string without trailing NULs, or None when the
        device marks the point not implemented.
    """
    if len(registers) != point.size:
        raise ValueError(f"{point.name}: {len(registers)} registers, expected {point.size}")
    if point.type == "string":
        raw = b"".join(r.to_bytes(2, "big") for r in registers)
        text = raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()
        return text or None
    value = 0
    for r in registers:
        value = (value << 16) | (r & 0xFFFF)
    if point.type in SIGNED:
        bits = 16 * point.size
        if value >= 1 << (bits - 1):
            value -= 1 << bits
    if value == UNIMPLEMENTED[point.type]:
        return None
    return value


def encode(point: Point, value: int | str | None) -> list[int]:
    """Encode a raw (unscaled) value into ``point.size`` registers; None → unimplemented."""
    if point.type == "string":
        data = (value or "").encode("utf-8")[: 2 * point.size].ljust(2 * point.size, b"\0")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    raw = UNIMPLEMENTED[point.type] if value is None else int(value)
    bits = 16 * point.size
    if point.type in SIGNED:
        if not -(1 << (bits - 1)) <= raw < 1 << (bits - 1):
            raise ValueError(f"{point.name}: {raw} outside {point.type}")
        raw &= (1 << bits) - 1
    elif not 0 <= raw < 1 << bits:
        raise ValueError(f"{point.name}: {raw} outside {point.type}")
    return [(raw >> (16 * (point.size - 1 - i))) & 0xFFFF for i in range(point.size)]


def scale(raw: int | None, sf: int | None) -> float | None:
    """Apply a SunSpec scale factor: ``raw × 10^sf``; None if either is missing."""
    if raw is None or sf is None or not -10 <= sf <= 10:
        return None
    return raw * 10.0**sf


def unscale(value: float, sf: int) -> int:
    """Raw register value for a physical value under scale factor ``sf`` (rounded)."""
    return round(value / 10.0**sf)


def point_registers(model: Model, block: list[int], name: str) -> list[int]:
    """The registers of point ``name`` in a model block read from its ID register on."""
    p = model[name]
    return block[p.offset : p.offset + p.size]


def read_raw(model: Model, block: list[int], name: str) -> int | str | None:
    """Decoded raw value of point ``name`` from a model block (ID register first)."""
    p = model[name]
    if p.offset + p.size > len(block):
        return None
    return decode(p, block[p.offset : p.offset + p.size])


def read_scaled(model: Model, block: list[int], name: str) -> float | None:
    """Scaled value of point ``name`` [the point's units] from a model block, or None."""
    p = model[name]
    raw = read_raw(model, block, name)
    if p.sf is None:
        return None if raw is None else float(raw)
    sf = read_raw(model, block, p.sf)
    return scale(raw, sf)  # type: ignore[arg-type]
