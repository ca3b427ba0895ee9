"""ENTSO-E Transparency Platform documents through entsoe-py's own client and parsers.

Generation (A75) comes back from entsoe-py as a wide pandas frame (one column per
production type, or a (type, "Actual Aggregated"/"Actual Consumption") MultiIndex when
storage charging is present). :func:`generation_frame` turns it into the long lake
format, one row per zone, interval start, production type and mode, with the
interval's energy. curveType A03 documents, which leave out repeated points, are
forward-filled by entsoe-py's parser.

Without an API key the same client runs on recorded documents: :func:`recorded_session`
mounts a ``requests`` adapter that answers every request with a file.

A document that entsoe-py cannot parse, or whose values are not plausible numbers (``inf``,
or beyond :data:`MAX_ABS_VALUE`), raises :class:`EntsoeDocumentError` naming the problem. A
document without any point gives an empty frame, as "no matching data" from the API does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import requests
from entsoe import EntsoePandasClient, parsers
from entsoe.exceptions import NoMatchingDataError
from entsoe.mappings import PSRTYPE_MAPPINGS

from pipelines.log_redaction import redact, redact_credentials_in_logs

PSR_BY_NAME = {name: code for code, name in PSRTYPE_MAPPINGS.items() if code.startswith("B")}
CONSUMPTION = "Actual Consumption"

MAX_ABS_VALUE = 1e9
"""Largest magnitude of a quantity [MW] or price [EUR/MWh] taken from a document; no grid
comes near it (a whole bidding zone is below 1e6 MW), so a larger value is corruption."""

GENERATION_SCHEMA = {
    "zone": pl.String,
    "ts_utc": pl.Datetime("us", "UTC"),
    "production_type": pl.String,
    "mode": pl.String,
    "interval_s": pl.Int32,
    "power_mw": pl.Float64,
    "energy_mwh": pl.Float64,
}


class EntsoeDocumentError(ValueError):
    """A document cannot be parsed as the expected ENTSO-E document type."""


def _check_values(frame: pl.DataFrame, column: str, what: str) -> pl.DataFrame:
    """``frame`` unchanged if every ``column`` value is finite and within
    :data:`MAX_ABS_VALUE`; else :class:`EntsoeDocumentError` naming the first bad point."""
    value = pl.col(column)
    bad = frame.filter(~value.is_finite() | (value.abs() > MAX_ABS_VALUE))
    if bad.height:
        ts, number = bad.select("ts_utc", column).row(0)
        raise EntsoeDocumentError(
            f"{what} {number} at {ts:%Y-%m-%dT%H:%MZ} is not a plausible number "
            f"({bad.height} such points): the document is corrupt"
        )
    return frame


def _utc_index(series: pd.Series, what: str) -> pd.DatetimeIndex:
    """The series' time index in UTC; EntsoeDocumentError if entsoe-py gave no times."""
    if not isinstance(series.index, pd.DatetimeIndex) or series.index.tz is None:
        raise EntsoeDocumentError(
            f"{what}: entsoe-py returned no UTC time index ({type(series.index).__name__})"
        )
    return series.index.tz_convert("UTC")


class _RecordedAdapter(requests.adapters.BaseAdapter):
    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def send(self, request, **kwargs):
        response = requests.models.Response()
        response.status_code = 200
        response._content = self.path.read_bytes()
        response.headers["Content-Type"] = "text/xml"
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self):
        pass


def recorded_session(path: str | Path) -> requests.Session:
    """A session whose every HTTPS request is answered with the recorded ``path``."""
    session = requests.Session()
    session.mount("https://", _RecordedAdapter(Path(path)))
    return session


class KeyRedactingClient(EntsoePandasClient):
    """entsoe-py's client whose request errors do not carry the API key.

    requests puts the URL, ``securityToken`` included, in its errors, which a failed
    Dagster run or ``novaenergy demo`` would print.
    """

    def _base_request(self, params, start, end):
        try:
            return super()._base_request(params, start, end)
        except requests.RequestException as exc:
            response = getattr(exc, "response", None)
            raise type(exc)(redact(str(exc)), response=response) from None


def make_client(api_key: str, session: requests.Session | None = None) -> EntsoePandasClient:
    """entsoe-py's client with bounded retries (3 tries, 5 s apart), keeping its key out of
    errors and of the debug logs of entsoe-py and urllib3."""
    redact_credentials_in_logs()
    return KeyRedactingClient(api_key=api_key, session=session, retry_count=3, retry_delay=5)


def _resolution_s(index: pd.DatetimeIndex) -> int:
    if len(index) < 2:
        return 3600
    return int(pd.Series(index).diff().dropna().min().total_seconds())


def generation_frame(wide: pd.DataFrame, zone: str) -> pl.DataFrame:
    """Long generation rows from entsoe-py's A75 frame.

    Each series keeps its own resolution (15- and 60-minute series may share a zone);
    ``energy_mwh`` = ``power_mw`` × interval [h]. Duplicate timestamps keep the last
    value. A column that is not a known production type raises
    :class:`EntsoeDocumentError`.
    """
    if isinstance(wide, pd.Series):
        wide = wide.to_frame()
    parts = []
    for column in wide.columns:
        name, kind = column if isinstance(column, tuple) else (column, "Actual Aggregated")
        if name not in PSR_BY_NAME:
            raise EntsoeDocumentError(
                f"unknown production type {name!r} in A75 document for {zone}"
            )
        series = wide[column].dropna()
        series = series[~series.index.duplicated(keep="last")]
        if series.empty:
            continue
        interval = _resolution_s(series.index)
        parts.append(
            pl.DataFrame(
                {
                    "ts_utc": pl.Series(_utc_index(series, f"A75 {name}")),
                    "power_mw": series.to_numpy(dtype=float),
                }
            ).with_columns(
                pl.lit(zone).alias("zone"),
                pl.lit(PSR_BY_NAME[name]).alias("production_type"),
                pl.lit("consumption" if kind == CONSUMPTION else "generation").alias("mode"),
                pl.lit(interval, dtype=pl.Int32).alias("interval_s"),
            )
        )
    if not parts:
        return pl.DataFrame(schema=GENERATION_SCHEMA)
    frame = pl.concat(parts, how="diagonal").with_columns(
        (pl.col("power_mw") * pl.col("interval_s") / 3600).alias("energy_mwh"),
        pl.col("ts_utc").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
    )
    _check_values(frame, "power_mw", f"power_mw ({zone})")
    return frame.select([pl.col(c).cast(t) for c, t in GENERATION_SCHEMA.items()]).sort(
        "ts_utc", "production_type", "mode"
    )


def parse_generation_xml(xml_text: str, zone: str) -> pl.DataFrame:
    """Parse an A75 document with entsoe-py's parser; see :func:`generation_frame`."""
    try:
        wide = parsers.parse_generation(xml_text, nett=False)
    except Exception as exc:  # entsoe-py raises bare exceptions on foreign documents
        raise EntsoeDocumentError(
            f"not an A75 generation document ({type(exc).__name__}: {exc})"
        ) from exc
    return generation_frame(wide, zone)


def read_document_text(path: str | Path) -> str:
    """The text of a recorded document (UTF-8 XML, as the platform sends it).

    Raises
    ------
    EntsoeDocumentError
        Naming the file, if it cannot be read or is not UTF-8.
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise EntsoeDocumentError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "ENTSO-E documents are UTF-8 XML"
        ) from exc
    except OSError as exc:
        raise EntsoeDocumentError(f"{path}: {exc}") from exc


def read_generation_xml(path: str | Path, zone: str) -> pl.DataFrame:
    """Read a recorded A75 document; errors name the file."""
    text = read_document_text(path)
    try:
        return parse_generation_xml(text, zone)
    except EntsoeDocumentError as exc:
        raise EntsoeDocumentError(f"{path}: {exc}") from exc


def get_generation(
    client: EntsoePandasClient, zone: str, start: pd.Timestamp, end: pd.Timestamp
) -> pl.DataFrame:
    """Generation of ``zone`` for ``start <= t < end`` through the client.

    "No matching data" is not an error here: it returns an empty frame, and the
    downstream hourly table flags every hour of the window as missing.
    """
    try:
        wide = client.query_generation(zone, start=start, end=end, psr_type=None)
    except NoMatchingDataError:
        return pl.DataFrame(schema=GENERATION_SCHEMA)
    return generation_frame(wide, zone)


RESOLUTION_S = {"15min": 900, "30min": 1800, "60min": 3600}


def _parse(parser, xml_text: str, what: str, *args):
    try:
        return parser(xml_text, *args)
    except Exception as exc:  # entsoe-py raises bare exceptions on foreign documents
        raise EntsoeDocumentError(f"not an {what} document ({type(exc).__name__}: {exc})") from exc


def _series_frame(series: pd.Series, value_col: str) -> pl.DataFrame:
    """``ts_utc`` and ``value_col`` of a series, NaN (a gap) dropped, the last of duplicate
    times kept; empty for a document without points. EntsoeDocumentError on an
    implausible value or a series without times."""
    series = series.dropna()
    if series.empty:
        return pl.DataFrame(schema={"ts_utc": pl.Datetime("us", "UTC"), value_col: pl.Float64})
    series = series[~series.index.duplicated(keep="last")]
    frame = pl.DataFrame(
        {
            "ts_utc": pl.Series(_utc_index(series, value_col)),
            value_col: series.to_numpy(dtype=float),
        }
    ).with_columns(pl.col("ts_utc").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    return _check_values(frame, value_col, value_col)


def parse_prices_xml(xml_text: str, zone: str) -> pl.DataFrame:
    """A44 day-ahead prices, every resolution the document holds (15- and 60-minute
    series of one zone are kept side by side, told apart by ``interval_s``)."""
    by_resolution = _parse(parsers.parse_prices, xml_text, "A44 price")
    parts = [
        _series_frame(series, "price_eur_per_mwh").with_columns(
            pl.lit(zone).alias("zone"),
            pl.lit(RESOLUTION_S[res], dtype=pl.Int32).alias("interval_s"),
        )
        for res, series in by_resolution.items()
        if len(series)
    ]
    if not parts:
        raise EntsoeDocumentError("the A44 document holds no price series")
    return (
        pl.concat(parts)
        .with_columns(pl.lit("entsoe").alias("source"))
        .select("zone", "ts_utc", "interval_s", "price_eur_per_mwh", "source")
        .sort("interval_s", "ts_utc")
    )


def parse_load_xml(xml_text: str, zone: str) -> pl.DataFrame:
    """A65 actual total load: zone, ts_utc, interval_s, load_mw [MW]."""
    wide = _parse(parsers.parse_loads, xml_text, "A65 load", "A16")
    series = wide.iloc[:, 0] if isinstance(wide, pd.DataFrame) else wide
    frame = _series_frame(series, "load_mw")
    return frame.with_columns(
        pl.lit(zone).alias("zone"),
        pl.lit(_resolution_s(series.dropna().index), dtype=pl.Int32).alias("interval_s"),
    ).select("zone", "ts_utc", "interval_s", "load_mw")


def parse_flows_xml(xml_text: str, zone_from: str, zone_to: str) -> pl.DataFrame:
    """A11 physical flows from ``zone_from`` into ``zone_to``, hourly:
    zone_from, zone_to, hour_utc, flow_mwh [MWh] (the mean MW of the hour × 1 h)."""
    series = _parse(parsers.parse_crossborder_flows, xml_text, "A11 flow")
    return _hourly_flows(_series_frame(series, "flow_mw"), zone_from, zone_to)


def get_flows(
    client: EntsoePandasClient, zone_from: str, zone_to: str, start: pd.Timestamp, end: pd.Timestamp
) -> pl.DataFrame:
    """Hourly physical flows from ``zone_from`` into ``zone_to`` through the client;
    "no matching data" gives an empty frame (the importer's hours are then flagged)."""
    try:
        series = client.query_crossborder_flows(zone_from, zone_to, start=start, end=end)
    except NoMatchingDataError:
        return pl.DataFrame(schema=FLOW_SCHEMA)
    frame = _series_frame(series, "flow_mw")
    return _hourly_flows(frame, zone_from, zone_to)


FLOW_SCHEMA = {
    "zone_from": pl.String,
    "zone_to": pl.String,
    "hour_utc": pl.Datetime("us", "UTC"),
    "flow_mwh": pl.Float64,
}


def _hourly_flows(frame: pl.DataFrame, zone_from: str, zone_to: str) -> pl.DataFrame:
    return (
        frame.group_by(pl.col("ts_utc").dt.truncate("1h").alias("hour_utc"), maintain_order=True)
        .agg(pl.col("flow_mw").mean().alias("flow_mwh"))
        .with_columns(pl.lit(zone_from).alias("zone_from"), pl.lit(zone_to).alias("zone_to"))
        .select(list(FLOW_SCHEMA))
        .sort("hour_utc")
    )


class RoutedRecordings(requests.adapters.BaseAdapter):
    """Answer each request with the recorded document for its ``documentType``
    (and, for flows, its direction): an offline stand-in for the API that still runs
    entsoe-py's request and parsing code."""

    def __init__(self, by_document_type: dict[str, Path]):
        super().__init__()
        self.by_document_type = by_document_type

    def send(self, request, **kwargs):
        from urllib.parse import parse_qs, urlparse

        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        path = self.by_document_type.get(params.get("documentType", ""))
        response = requests.models.Response()
        response.url, response.request, response.encoding = request.url, request, "utf-8"
        response.headers["Content-Type"] = "text/xml"
        response.status_code = 200
        response._content = (
            path.read_bytes()
            if path is not None
            else b"<Acknowledgement_MarketDocument><Reason><text>No matching data found</text></Reason></Acknowledgement_MarketDocument>"
        )
        return response

    def close(self):
        pass


def _areas_by_code() -> dict[str, list[str]]:
    from entsoe.mappings import Area

    areas: dict[str, list[str]] = {}
    for area in Area:
        areas.setdefault(area.code, []).append(area.name)
    return areas


def document_zones(xml_text: str, tag: str) -> list[list[str]]:
    """Area names (entsoe-py's ``Area``) of every ``<tag>`` EIC code in a document, in order
    of appearance; one EIC code may name several areas (e.g. DE_LU and DE_AT_LU)."""
    import re

    areas = _areas_by_code()
    codes = re.findall(rf"<{re.escape(tag)}[^>]*>([^<]+)</{re.escape(tag)}>", xml_text)
    return [areas.get(code.strip(), [code.strip()]) for code in codes]


def generation_zone(xml_text: str, preferred: str | None = None) -> str:
    """The bidding zone an A75 document reports, from its ``inBiddingZone_Domain``."""
    found = document_zones(xml_text, "inBiddingZone_Domain.mRID")
    if not found:
        raise EntsoeDocumentError("no inBiddingZone_Domain in the document: not an A75 document")
    names = found[0]
    return preferred if preferred in names else names[0]


def read_flows_xml(path: str | Path) -> pl.DataFrame:
    """A recorded A11 document, its direction read from ``out_Domain`` → ``in_Domain``."""
    text = read_document_text(path)
    into, out_of = document_zones(text, "in_Domain.mRID"), document_zones(text, "out_Domain.mRID")
    if not into or not out_of:
        raise EntsoeDocumentError(f"{path}: no in_Domain/out_Domain: not an A11 flow document")
    try:
        return parse_flows_xml(text, out_of[0][0], into[0][0])
    except EntsoeDocumentError as exc:
        raise EntsoeDocumentError(f"{path}: {exc}") from exc


def get_day_ahead_prices(
    client: EntsoePandasClient, zone: str, start: pd.Timestamp, end: pd.Timestamp
) -> pl.DataFrame:
    """A44 day-ahead (SDAC) prices through the client, every resolution kept apart.

    entsoe-py's pandas-level ``query_day_ahead_prices`` resamples a document holding
    15- and 60-minute series into one hourly series by taking the first value, which
    mixes the two; so the raw query is used with entsoe-py's parser per resolution.
    """
    from entsoe import EntsoeRawClient
    from entsoe.mappings import lookup_area

    area = lookup_area(zone)
    try:
        text = EntsoeRawClient.query_day_ahead_prices(
            client,
            area,
            start=start,
            end=end,
            offset=0,
            sequence=1 if area.name in ("DE_LU", "AT") else None,
        )
    except NoMatchingDataError:
        return pl.DataFrame(
            schema={
                "zone": pl.String,
                "ts_utc": pl.Datetime("us", "UTC"),
                "interval_s": pl.Int32,
                "price_eur_per_mwh": pl.Float64,
                "source": pl.String,
            }
        )
    prices = parse_prices_xml(text, zone)
    return prices.filter(
        pl.col("ts_utc").is_between(start.to_pydatetime(), end.to_pydatetime(), closed="left")
    )


def get_wind_solar_forecast(
    client: EntsoePandasClient, zone: str, start: pd.Timestamp, end: pd.Timestamp
) -> pl.DataFrame:
    """A69 day-ahead wind and solar forecast through the client:
    zone, ts_utc, production_type, power_mw, source."""
    try:
        wide = client.query_wind_and_solar_forecast(zone, start=start, end=end)
    except NoMatchingDataError:
        wide = pd.DataFrame()
    frame = generation_frame(wide, zone)
    return frame.select("zone", "ts_utc", "production_type", "power_mw").with_columns(
        pl.lit("entsoe").alias("source")
    )


def get_load(
    client: EntsoePandasClient, zone: str, start: pd.Timestamp, end: pd.Timestamp
) -> pl.DataFrame:
    """A65 actual total load through the client: zone, ts_utc, interval_s, load_mw, source."""
    try:
        wide = client.query_load(zone, start=start, end=end)
    except NoMatchingDataError:
        return pl.DataFrame(schema=LOAD_SCHEMA)
    series = wide.iloc[:, 0] if isinstance(wide, pd.DataFrame) else wide
    return (
        _series_frame(series, "load_mw")
        .with_columns(
            pl.lit(zone).alias("zone"),
            pl.lit(_resolution_s(series.dropna().index), dtype=pl.Int32).alias("interval_s"),
            pl.lit("entsoe").alias("source"),
        )
        .select(list(LOAD_SCHEMA))
    )


LOAD_SCHEMA = {
    "zone": pl.String,
    "ts_utc": pl.Datetime("us", "UTC"),
    "interval_s": pl.Int32,
    "load_mw": pl.Float64,
    "source": pl.String,
}
