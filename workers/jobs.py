"""RQ jobs. Each takes ids only and lets exceptions propagate to RQ (Retry, failed registry)."""

from __future__ import annotations

from hotline.services import Services


def sweep_now(services: Services) -> None:
    """Periodic housekeeping: reclaim expired leases, end wrap-ups, match (routing issue)."""


def request_match(services: Services) -> None:
    """Ask a worker to run matching soon (after a lead is queued or a counselor frees up).

    The routing issue implements it; intake calls it after queueing a lead.
    """
