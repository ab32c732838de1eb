"""Reading the services' Prometheus text."""

from __future__ import annotations

__all__ = ["metric_families"]


def metric_families(text: str) -> set[str]:
    """Names of the metric families in Prometheus text (from its ``# TYPE`` lines)."""
    out = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            # prometheus-client declares counters without their _total suffix.
            out.add(f"{name}_total" if kind == "counter" and not name.endswith("_total") else name)
    return out
