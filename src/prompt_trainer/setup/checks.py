"""``doctor``'s unit: one ``Check`` value (name, status, detail, fix), shared by the modules
that check a part of the setup."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skipped
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return asdict(self)
