"""Analytics over the studio's history: quality over time, what to use, why images fail, lineage, who appears
with whom, project health, drift and cross-project comparisons."""

from services.analytics.scope import Scope
from services.analytics.service import Analytics

__all__ = ["Analytics", "Scope"]
