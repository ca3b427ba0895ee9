"""The sample site over one week, on a temporary lake: the test suite's stand-in for `make demo`."""

from dataclasses import replace
from datetime import date

from novaenergy.settings import load_settings, relocated

# Seven days across the spring daylight-saving change in Europe/Berlin (2025-03-30).
START, END = date(2025, 3, 26), date(2025, 4, 2)
# The demo lake the suite shares: 23 days ending with that week, so the vampire-load detector
# has its 14 days of history and finds alerts (on 24 and 27 March).
DEMO_START = date(2025, 3, 10)


def hours(settings) -> int:
    """UTC hours in the sample period of ``settings``."""
    return (settings.sample_end - settings.sample_start).days * 24


def week_settings(root, start: date = START, end: date = END):
    base = relocated(load_settings(environ={}, dotenv=None), root)
    return replace(base, sample_start=start, sample_end=end)
