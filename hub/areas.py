"""Where areas lie: GB/T 2260 area codes to coordinates, and distances between them.

The coordinates are those of each area's seat of government (see hub/data/README.md). A code
the table lacks (a retired county, a placeholder) falls back to its prefecture, then to its
province, and says so: a retired code stays valid on old records (DOMAIN.md).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from hub.errors import HubError

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
_AREA = re.compile(r"^[1-9][0-9]{5}$")


class AreaError(HubError):
    """An area code that is malformed, or a coordinates table that cannot be read."""


@dataclass(frozen=True)
class Place:
    """Where an area code is taken to lie, and which code of the table gave the position."""

    area_code: str
    located_by: str
    latitude: float
    longitude: float

    @property
    def approximate(self) -> bool:
        """True when the position is that of a coarser area (prefecture or province)."""
        return self.located_by != self.area_code


def great_circle_km(a: Place, b: Place) -> float:
    """The distance between two places over the earth's surface (haversine), in km."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def covers(jurisdiction: str, area_code: str) -> bool:
    """Whether a jurisdiction (province, prefecture or county code) contains the area code."""
    if _AREA.match(jurisdiction) is None or _AREA.match(area_code) is None:
        return False
    if jurisdiction.endswith("0000"):
        return area_code[:2] == jurisdiction[:2]
    if jurisdiction.endswith("00"):
        return area_code[:4] == jurisdiction[:4]
    return area_code == jurisdiction


class AreaCoordinates:
    """Area codes with the position of their seat."""

    def __init__(
        self, positions: dict[str, tuple[float, float]], names: dict[str, str] | None = None
    ) -> None:
        self._positions = positions
        self._names = names or {}

    def __len__(self) -> int:
        return len(self._positions)

    @classmethod
    def from_csv_text(cls, text: str, source: str) -> AreaCoordinates:
        """Parse `area_code,name,longitude,latitude` rows; a bad row is an error naming it."""
        positions: dict[str, tuple[float, float]] = {}
        names: dict[str, str] = {}
        reader = csv.DictReader(text.splitlines())
        for number, row in enumerate(reader, start=2):
            code = (row.get("area_code") or "").strip()
            if _AREA.match(code) is None:
                raise AreaError(f"{source} row {number}: area_code {code!r} is not 6 digits")
            try:
                lon, lat = float(row["longitude"]), float(row["latitude"])
            except (KeyError, TypeError, ValueError) as err:
                raise AreaError(f"{source} row {number}: longitude/latitude unreadable") from err
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise AreaError(f"{source} row {number}: ({lon}, {lat}) is not on the earth")
            positions[code] = (lat, lon)
            names[code] = (row.get("name") or "").strip()
        if not positions:
            raise AreaError(f"{source}: no area codes")
        return cls(positions, names)

    def names(self) -> dict[str, str]:
        """Each area code's name (四川省, 成都市, 锦江区)."""
        return dict(self._names)

    @classmethod
    def shipped(cls) -> AreaCoordinates:
        """The table shipped with the hub (hub/data/area_coordinates.csv)."""
        return _shipped()

    def place(self, area_code: str) -> Place | None:
        """Where the area lies (its own seat, else its prefecture's or province's); None if
        neither the code nor its prefecture nor its province is known."""
        if _AREA.match(area_code) is None:
            raise AreaError(f"{area_code!r} is not a 6-digit area code")
        for code in (area_code, area_code[:4] + "00", area_code[:2] + "0000"):
            position = self._positions.get(code)
            if position is not None:
                return Place(area_code, code, position[0], position[1])
        return None


@cache
def _shipped() -> AreaCoordinates:
    name = "area_coordinates.csv"
    text = resources.files("hub").joinpath("data", name).read_text(encoding="utf-8")
    return AreaCoordinates.from_csv_text(text, f"hub/data/{name}")
