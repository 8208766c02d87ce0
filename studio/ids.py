"""The integer ids of the studio's rows as the API and the forms accept them.

Primary keys are INTEGER columns: PostgreSQL holds up to 2**31 - 1 and refuses more with an error,
SQLite's driver refuses 2**63 and up. An id outside 1..2**31 - 1 names no row on either database, so it
is refused as invalid input (422) before any query is made, the same on both.
"""

from __future__ import annotations

from typing import Annotated

import annotated_types

MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_ROW_ID)]
