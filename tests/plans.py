"""PostgreSQL's EXPLAIN (FORMAT JSON) plans, for the tests that assert how a statement runs."""

from __future__ import annotations

from typing import Any


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a plan (`EXPLAIN (FORMAT JSON)`'s "Plan"), the root first, depth first."""
    return [plan, *(node for child in plan.get("Plans", []) for node in plan_nodes(child))]
