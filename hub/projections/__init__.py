"""Pure projection logic: each verified event becomes a list of row upserts.

Nothing here touches a database; ``hub.projection_store`` keeps rows in memory and
``processors.pg_projections`` applies the same upserts to PostgreSQL.
"""

from __future__ import annotations

from hub.projections.cases import (
    ALERTS_PROJECTION,
    MIGRANTS_PROJECTION,
    RESCUES_PROJECTION,
    TIPS_PROJECTION,
)
from hub.projections.matches import MATCHES_PROJECTION
from hub.projections.model import Column, Projection, ProjectionCatalog, TableSpec, Upsert
from hub.projections.registry import REGISTRY
from hub.projections.response import RESPONSE_PROJECTION

__all__ = [
    "CATALOG",
    "Column",
    "Projection",
    "ProjectionCatalog",
    "TableSpec",
    "Upsert",
]

CATALOG = ProjectionCatalog(
    [
        REGISTRY,
        ALERTS_PROJECTION,
        MIGRANTS_PROJECTION,
        RESCUES_PROJECTION,
        MATCHES_PROJECTION,
        TIPS_PROJECTION,
        RESPONSE_PROJECTION,
    ]
)
