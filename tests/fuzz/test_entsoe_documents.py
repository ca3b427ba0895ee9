"""Fuzz: truncated and mangled copies of the real recorded ENTSO-E documents.

Contract: each parser of :mod:`ingest.entsoe_documents` (entsoe-py underneath) either
returns its frame, with UTC times and plausible finite values, or raises
:class:`EntsoeDocumentError`; the CLI (``novaenergy carbon``) turns that into exit code 2.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import polars as pl
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.entsoe_documents import (
    MAX_ABS_VALUE,
    EntsoeDocumentError,
    generation_zone,
    parse_load_xml,
    parse_prices_xml,
    read_flows_xml,
    read_generation_xml,
)
from tests.fuzz.strategies import bounded, mangled_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "entsoe"
SMALL_DOCUMENTS = {  # document -> how it is read: A44 prices, A65 load, A11 flows
    "FR_day_ahead_prices_A44.xml": "prices",
    "DE_LU_day_ahead_prices_A44_2021-01-01.xml": "prices",
    "DK1_load_A65.xml": "load",
    "DK1_GB_flows_A11_imports.xml": "flows",
    "DK1_GB_flows_A11_exports.xml": "flows",
}
GENERATION = "SE4_generation_A75_2025-10-20.xml"  # the large LU one takes 0.5 s a parse
BAD_VALUES = [
    *("NaN", "inf", "-inf", "1e400", "-1e400", "1e300", "-5", "", "x", "0x10", "ä", "&amp;"),
    *("PT7M", "P1D", "PT0M", "PT15M", "A03", "A01", "B99", "10Y1001A1001A47J"),
    *("9999-12-31T23:00Z", "0001-01-01T00:00Z", "2025-02-30T00:00Z", "2025-10-20T11:00"),
]
ELEMENT_TEXT = re.compile(rb">([^<>]*)<")


@st.composite
def mangled_document(draw, names: list[str]) -> tuple[str, bytes]:
    """A recorded document with element values replaced by bad ones, and then maybe
    truncated or corrupted: (file name, bytes)."""
    name = draw(st.sampled_from(names))
    data = (DATA / name).read_bytes()
    spans = [m.span(1) for m in ELEMENT_TEXT.finditer(data)]
    for _ in range(draw(st.integers(0, 3))):
        start, end = draw(st.sampled_from(spans))
        value = draw(st.sampled_from(BAD_VALUES)).encode()
        data = data[:start] + value + data[end:]
        spans = [m.span(1) for m in ELEMENT_TEXT.finditer(data)]
    if draw(st.booleans()):
        data = draw(mangled_bytes(data))
    return name, data


def check_frame(frame: pl.DataFrame) -> None:
    """UTC times without gaps in the column, every value finite and plausible."""
    time_column = "ts_utc" if "ts_utc" in frame.columns else "hour_utc"
    assert frame.schema[time_column] == pl.Datetime("us", "UTC")
    assert frame[time_column].null_count() == 0
    for column in frame.columns:
        if column.endswith(("_mw", "_mwh", "_eur_per_mwh")):
            values = frame[column]
            assert values.is_finite().all() and (values.abs() <= MAX_ABS_VALUE).all(), column


def read_document(kind: str, path: Path) -> pl.DataFrame:
    """Read a recorded document the way the CLI and the assets do."""
    if kind == "flows":
        return read_flows_xml(path)
    if kind == "generation":
        return read_generation_xml(path, generation_zone(path.read_text("utf-8", "replace")))
    text = path.read_text("utf-8", "replace")
    return parse_prices_xml(text, "FR") if kind == "prices" else parse_load_xml(text, "DK_1")


def parses_or_refuses(kind: str, data: bytes) -> None:
    """The contract: a checked frame or EntsoeDocumentError, nothing else."""
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # entsoe-py and pandas warn about odd documents
        path = Path(folder) / "document.xml"
        path.write_bytes(data)
        try:
            frame = read_document(kind, path)
        except EntsoeDocumentError as refused:
            assert str(refused)
            return
    check_frame(frame)


def without_points(name: str) -> bytes:
    """The document with every ``<Point>`` removed: periods without any value."""
    return re.sub(rb"<Point>.*?</Point>", b"", (DATA / name).read_bytes(), flags=re.S)


def with_first_quantity(name: str, value: bytes) -> bytes:
    """The document with its first ``<quantity>`` replaced by ``value``."""
    return re.sub(
        rb"<quantity>[^<]*<", b"<quantity>" + value + b"<", (DATA / name).read_bytes(), count=1
    )


@given(document=mangled_document(sorted(SMALL_DOCUMENTS)))
@example(document=("DK1_GB_flows_A11_imports.xml", without_points("DK1_GB_flows_A11_imports.xml")))
@example(document=("DK1_load_A65.xml", without_points("DK1_load_A65.xml")))
@example(document=("DK1_load_A65.xml", with_first_quantity("DK1_load_A65.xml", b"1e400")))
@example(document=("DK1_GB_flows_A11_exports.xml", "\u00e4".encode("latin-1") * 3))
@bounded(150)
def test_mangled_price_load_and_flow_documents_parse_or_fail_clearly(document):
    name, data = document
    parses_or_refuses(SMALL_DOCUMENTS[name], data)


@given(document=mangled_document([GENERATION]))
@example(document=(GENERATION, with_first_quantity(GENERATION, b"inf")))
@example(document=(GENERATION, without_points(GENERATION)))
@bounded(80)
def test_mangled_generation_documents_parse_or_fail_clearly(document):
    _, data = document
    parses_or_refuses("generation", data)
