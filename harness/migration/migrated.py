"""Migrated states for a replay: the v2 state of each request's user, from a migration check.

So blue (prod, with the v1 state) and green (the candidate, with the migrated v2 state) can be
compared on the same requests. Only states whose migration was ok are handed out by default:
a state the check found broken would not exist after a real migration either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from harness.store import Store

__all__ = ["migrated_state", "migrated_states"]


def migrated_state(store: Store, check_id: str, user_key: str, *, only_ok: bool = True) -> dict[str, Any] | None:
    """The migrated state of one user (the state's key, normally the request's user_id), or None
    when the check has no migrated state for that key (not in the state set, not checked, the
    transform failed, or, with only_ok, an outcome other than ok). NotFoundError for an unknown check."""
    return migrated_states(store, check_id, [user_key], only_ok=only_ok).get(user_key)


def migrated_states(store: Store, check_id: str, user_keys: Iterable[str], *,
                    only_ok: bool = True) -> dict[str, dict[str, Any]]:
    """{key: migrated state} for the keys that have one (see migrated_state), in one read."""
    keys = list(dict.fromkeys(user_keys))
    if not keys:
        store.migration_check(check_id)  # NotFoundError for an unknown check, as with keys
        return {}
    texts = store.migrated_state_texts(check_id, keys, only_ok=only_ok)
    return {key: json.loads(text) for key, text in texts.items()}
