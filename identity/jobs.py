"""Identity's background jobs: module-level functions, safe to run twice."""

from __future__ import annotations

import db
from identity import logins


def prune_login_proofs() -> int:
    """Forget used consumer login proofs that are too old to be accepted anyway."""
    with db.session_scope() as session:
        return logins.prune(session)
