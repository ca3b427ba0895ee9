"""The site registry CSV: sites by id, and a clear error naming the row for bad input."""

import pytest

from pipelines.site_registry import RegisteredSite, SiteRegistryError, read_site_registry

HEADER = "site_id,timezone,max_export_limit_kw,sample_seed\n"


def registry(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "sites.csv"
    path.write_text(header + body)
    return path


def test_sites_are_read_by_id_in_file_order(tmp_path):
    path = registry(tmp_path, "plant-2,Europe/Lisbon,0,7\nsite_3,Europe/Berlin,120,8\n")
    sites = read_site_registry(path)
    assert list(sites) == ["plant-2", "site_3"]
    assert sites["plant-2"] == RegisteredSite("plant-2", "Europe/Lisbon", 0, 7)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a|b,Europe/Berlin,50,1\n", "sites.csv:2: site id 'a|b'"),
        (",Europe/Berlin,50,1\n", "sites.csv:2: site id ''"),
        ("2025-03-27,Europe/Berlin,50,1\n", "reads as a day"),
        ("a,Mars/Olympus,50,1\n", "sites.csv:2:"),
        ("a,Europe/Berlin,fifty,1\n", "sites.csv:2:"),
        ("a,Europe/Berlin,-1,1\n", "max_export_limit_kw must be >= 0"),
        ("a,Europe/Berlin,50,1\na,Europe/Paris,50,2\n", "sites.csv:3: site 'a' is listed twice"),
        ("a,Europe/Berlin\n", "sites.csv:2:"),
    ],
)
def test_a_bad_row_is_refused_with_its_line(tmp_path, body, message):
    with pytest.raises(SiteRegistryError, match=message.replace("|", r"\|")):
        read_site_registry(registry(tmp_path, body))


def test_a_missing_column_or_file_is_refused(tmp_path):
    with pytest.raises(SiteRegistryError, match=r"missing columns \['sample_seed'\]"):
        read_site_registry(registry(tmp_path, "", "site_id,timezone,max_export_limit_kw\n"))
    with pytest.raises(SiteRegistryError, match="nope.csv"):
        read_site_registry(tmp_path / "nope.csv")
    (tmp_path / "latin1.csv").write_bytes(
        HEADER.encode() + "caf\xe9,Europe/Berlin,1,1\n".encode("latin-1")
    )
    with pytest.raises(SiteRegistryError, match="latin1.csv"):
        read_site_registry(tmp_path / "latin1.csv")
