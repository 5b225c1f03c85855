"""The one owner of job and sample state. Every status change, counter and derived figure of a
Job or a Sample is written by a function here; the API, the admin pages, the workers and the
reconciler call them, and nothing else assigns a status (tests/lifecycle checks the source tree).

Functions take the caller's session and never commit: the caller owns the transaction (usually
`shared.db.session.session_scope()`, or the web request's session). Workers get plain data back
(`TrainingWork`, `SamplingWork`), never ORM objects.

A job:    queued -> running -> succeeded | failed | cancelled, and running -> queued when its
          worker stops gracefully (`requeue_job`) or is lost (`worker_lost`).
A sample: queued -> running -> succeeded | failed | cancelled, queued -> cancelled, and
          running -> queued when its worker stops gracefully (`requeue_sample`).
An analysis: queued -> running -> succeeded | failed | cancelled, queued -> cancelled
          (analyses.py); lost messages re-sent and silent workers found as for samples.

Continued and forked jobs (lineage.py), checkpoint retention (retention.py), and the database
side of deletes (deletion.py: a `deleting_at` mark, then the rows once the objects are gone;
shared/deletion.py runs the steps). The worker registry (registry.py: which worker processes
run, which are lost, what each holds, and the queue depths).
"""

from . import deletion, lineage, registry, retention
from .analyses import (
    LOST_ANALYSIS,
    AnalysisFinished,
    AnalysisWork,
    analysis_heartbeat,
    cancel_analysis,
    claim_analysis,
    create_analysis,
    fail_lost_analysis,
    fail_unsent_analysis,
    finish_analysis,
)
from .dispatch import (
    Dispatch,
    dispatch_after,
    dispatch_next,
    fail_unsent,
    redispatch,
    take_dispatches,
    waiting_owners,
)
from .jobs import (
    CANCEL_REQUESTED,
    CANCELLED,
    UNCHANGED,
    AlreadyFinished,
    Busy,
    JobLost,
    NoCheckpoint,
    TrainingWork,
    best_epoch,
    cancel_requested,
    claim_job,
    create_job,
    eta_seconds,
    finish_job,
    job_heartbeat,
    message_lost,
    record_epoch,
    record_vocabulary,
    request_cancel,
    requeue_job,
    stored_checkpoint,
    stored_checkpoints,
    worker_lost,
)
from .live import batch_losses, record_batch_loss
from .samples import (
    LOST_SAMPLE,
    SampleFinished,
    SamplingWork,
    cancel_sample,
    claim_sample,
    create_sample,
    fail_lost_sample,
    finish_sample,
    requeue_sample,
    sample_heartbeat,
)

__all__ = [
    "LOST_ANALYSIS",
    "AnalysisFinished",
    "AnalysisWork",
    "cancel_analysis",
    "analysis_heartbeat",
    "fail_lost_analysis",
    "claim_analysis",
    "create_analysis",
    "fail_unsent_analysis",
    "finish_analysis",
    "deletion",
    "lineage",
    "registry",
    "retention",
    "CANCELLED",
    "CANCEL_REQUESTED",
    "LOST_SAMPLE",
    "UNCHANGED",
    "AlreadyFinished",
    "Busy",
    "Dispatch",
    "JobLost",
    "NoCheckpoint",
    "SampleFinished",
    "SamplingWork",
    "TrainingWork",
    "best_epoch",
    "stored_checkpoint",
    "stored_checkpoints",
    "cancel_requested",
    "cancel_sample",
    "claim_job",
    "claim_sample",
    "create_job",
    "create_sample",
    "dispatch_after",
    "dispatch_next",
    "eta_seconds",
    "fail_lost_sample",
    "fail_unsent",
    "finish_job",
    "finish_sample",
    "job_heartbeat",
    "message_lost",
    "record_epoch",
    "record_vocabulary",
    "redispatch",
    "request_cancel",
    "requeue_job",
    "requeue_sample",
    "sample_heartbeat",
    "take_dispatches",
    "waiting_owners",
    "worker_lost",
    # issue 12: live loss (live.py); sweeps are in shared.lifecycle.sweeps
    "batch_losses",
    "record_batch_loss",
]
