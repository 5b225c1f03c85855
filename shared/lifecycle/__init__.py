"""The one owner of the state of queued work (jobs, samples, analyses). Every status change,
counter and derived figure of a Job, a Sample or an Analysis is written by a function here; the
API, the admin pages, the workers and the reconciler call them, and nothing else assigns a status
(tests/lifecycle checks the source tree).

Functions take the caller's session and never commit: the caller owns the transaction (usually
`shared.db.session.session_scope()`, or the web request's session). Workers get plain data back
(`TrainingWork`, `SamplingWork`, `AnalysisWork`), never ORM objects.

All three: queued -> running -> succeeded | failed | cancelled, queued -> cancelled, running ->
queued when the worker stops gracefully; one rule for the three, owned by work.py (claim,
heartbeat, cancel, finish, requeue, a lost worker, a lost message). Fair dispatch of jobs and
samples: dispatch.py. What differs stays with its kind: jobs.py (a running job's cancel is a
request; a lost worker's job is retried until out of attempts, `worker_lost`; epochs,
checkpoints, vocabulary), samples.py and analyses.py (what the worker is given, the results).

Continued and forked jobs (lineage.py), checkpoint retention (retention.py), and the database
side of deletes (deletion.py: a `deleting_at` mark, then the rows once the objects are gone;
shared/deletion.py runs the steps). A running sample's text as it is written (sample_pieces.py).
The worker registry (registry.py: which worker processes run, which are lost, what each holds,
and the queue depths).
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
    finish_analysis,
)
from .dispatch import Dispatch, dispatch_after, dispatch_next, take_dispatches, waiting_owners
from .figures import NoCheckpoint, best_epoch, eta_seconds, learning_of, stored_checkpoint, stored_checkpoints
from .jobs import (
    CANCEL_REQUESTED,
    CANCELLED,
    UNCHANGED,
    AlreadyFinished,
    Busy,
    JobLost,
    TrainingWork,
    cancel_requested,
    claim_job,
    create_job,
    finish_job,
    job_heartbeat,
    record_epoch,
    record_vocabulary,
    request_cancel,
    requeue_job,
    worker_lost,
)
from .live import batch_losses, record_batch_loss
from .sample_pieces import append_pieces, read_pieces
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
from .work import fail_unsent, message_lost, redispatch

__all__ = [
    "LOST_ANALYSIS",
    "AnalysisFinished",
    "AnalysisWork",
    "cancel_analysis",
    "analysis_heartbeat",
    "fail_lost_analysis",
    "claim_analysis",
    "create_analysis",
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
    "learning_of",
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
    # live loss (live.py); sweeps are in shared.lifecycle.sweeps
    "batch_losses",
    "record_batch_loss",
    # a running sample's text as it is written (sample_pieces.py)
    "append_pieces",
    "read_pieces",
]
