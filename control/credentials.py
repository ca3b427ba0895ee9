"""Per-device passwords for the sample site: generated once, kept out of git (mode 0600).

Real sites bring their own; the simulated site and ``make dev`` need some that are not in
the repository, so they are generated on first use and reused after.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path


def load(path: str | Path) -> dict[str, str]:
    """Passwords by name from a JSON file; an absent file is empty."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: str | Path, passwords: Mapping[str, str]) -> None:
    """Write passwords as JSON, readable by the owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(dict(passwords), indent=2, sort_keys=True) + "\n")


def load_or_create(path: str | Path, names: Iterable[str]) -> dict[str, str]:
    """Passwords by name from ``path``, adding a random one for every missing name."""
    known = load(path)
    missing = [n for n in names if n not in known]
    if missing or not Path(path).exists():
        known |= {n: secrets.token_urlsafe(18) for n in missing}
        save(path, known)
    return known
