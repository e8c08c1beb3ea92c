"""What changed between prod and the candidate: per arm the agent kind, where it runs, its model
and its config digest; the dataset, its size and the replay date; and the candidate's behaviour
changes per tool. Endpoints pass through the secret scrubber: the run's stored plan is already
redacted, and no header or key is ever shown.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from harness.secrets import redact, scrub
from harness.store import Store

__all__ = ["ArmChange", "WhatChanged", "what_changed"]

_WHERE_KEYS = ("url", "base_url", "callable", "variant", "command")


@dataclass(frozen=True)
class ArmChange:
    arm: str
    kind: str
    where: str
    models: str
    """The models its answers named, with counts (or the configured one)."""
    model_names: str
    digest: str
    """sha256 of the arm's agent section (secrets redacted), first 12 hex digits."""


@dataclass
class WhatChanged:
    arms: list[ArmChange]
    dataset: str
    n_requests: int
    replayed: str
    differs: list[str] = field(default_factory=list)
    """What differs between prod and the candidate, in words (kind, endpoint, model, config)."""
    tools: list[str] = field(default_factory=list)
    """Per tool behaviour changes against prod (verdict findings), beside prod_repeat's."""


def what_changed(store: Store, run: dict[str, Any], dataset: dict[str, Any],
                 findings: list[dict[str, Any]]) -> WhatChanged:
    """The block from the run's stored plan, the models its answers named and the verdict's findings."""
    agents = (run.get("plan") or {}).get("agents") or {}
    models: dict[str, list[tuple[str, int]]] = {}
    for arm, model, n in store.models_by_arm(run["run_id"]).iter_rows():
        models.setdefault(arm, []).append((model, n))
    arms = [_arm(arm, agents.get(arm) or {}, models.get(arm, [])) for arm in ("prod", "prod_repeat", "candidate")
            if arm in agents or arm in models]
    created = run.get("created_at")
    result = WhatChanged(arms, run["dataset"], int(dataset.get("n_requests") or 0),
                         f"{created:%Y-%m-%d %H:%M UTC}" if created else "unknown")
    by_arm = {a.arm: a for a in arms}
    prod, cand = by_arm.get("prod"), by_arm.get("candidate")
    if prod and cand:
        result.differs = [f"{label}: {getattr(prod, key)} → {getattr(cand, key)}"
                          for key, label in (("kind", "agent kind"), ("where", "endpoint"), ("model_names", "model"))
                          if getattr(prod, key) != getattr(cand, key)]
        if prod.digest != cand.digest and not result.differs:
            result.differs.append("agent config (same kind, endpoint and model; other settings differ)")
    result.tools = [f["text"] for f in findings if f.get("kind") == "action_change"]
    return result


def _arm(arm: str, section: dict[str, Any], models: list[tuple[str, int]]) -> ArmChange:
    safe = redact(section)
    where = next((safe[k] for k in _WHERE_KEYS if safe.get(k)), "")
    where_text = " ".join(map(str, where)) if isinstance(where, list) else str(where)
    configured = safe.get("model")
    counted = ", ".join(f"{m} ({n:,} answers)" for m, n in models)
    model_text = counted or (f"{configured} (configured)" if configured else "not reported")
    names = ", ".join(m for m, _ in models) or str(configured or "")
    digest = hashlib.sha256(json.dumps(safe, sort_keys=True).encode()).hexdigest()[:12] if safe else "-"
    return ArmChange(arm, str(safe.get("kind") or "-"), scrub(where_text) or "-", scrub(model_text) or "",
                     names, digest)
