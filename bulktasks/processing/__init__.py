"""Processing a bulk task: claim, scan, dispatch chunks fairly, apply them, finish, sweep.

One module per step; see docs/processing.md for the whole pipeline.
"""

from bulktasks.processing.chunks import bulk_task_chunk_process
from bulktasks.processing.claim import bulk_task_claim, chunk_claim
from bulktasks.processing.dispatch import bulk_task_enqueue, chunk_enqueue, organization_dispatch
from bulktasks.processing.leases import LeaseLost
from bulktasks.processing.pipeline import bulk_task_process, bulk_task_start
from bulktasks.processing.scan import bulk_task_scan
from bulktasks.processing.sweep import bulk_task_sweep

__all__ = [
    "LeaseLost",
    "bulk_task_chunk_process",
    "bulk_task_claim",
    "bulk_task_enqueue",
    "bulk_task_process",
    "bulk_task_scan",
    "bulk_task_start",
    "bulk_task_sweep",
    "chunk_claim",
    "chunk_enqueue",
    "organization_dispatch",
]
