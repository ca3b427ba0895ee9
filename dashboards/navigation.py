"""The dashboard's pages in menu order: (section, file under views/, title, icon).

The first page is the landing page. Tests import this list to visit every page.
"""

from pathlib import Path

PAGES = Path(__file__).parent / "views"  # not pages/: Streamlit would list that folder itself
NAVIGATION = [
    ("Site", "overview.py", "Overview", ":material/dashboard:"),
    ("Site", "energy_flows.py", "Energy flows", ":material/bolt:"),
    ("Sustainability", "carbon.py", "Carbon", ":material/co2:"),
    ("Sustainability", "certificates.py", "Certificates", ":material/verified:"),
    ("Sustainability", "scope2.py", "Scope 2", ":material/description:"),
    ("Operations", "anomalies.py", "Anomalies", ":material/warning:"),
    ("Operations", "fleet.py", "Fleet and V2G", ":material/ev_station:"),
    ("Operations", "control.py", "Control", ":material/tune:"),
]


def url_path(file: str) -> str:
    """The page's address under the app (Streamlit derives it from the file name)."""
    return file.removesuffix(".py")
