"""The use cases: one function per thing a user or an admin does (create a job, continue or fork
it, ask for a sample, queue an analysis or a sweep, cancel, relabel, delete), called alike by the
API (services/api), the pages (services/web) and the CLI's admin commands. Each takes plain
arguments (a session, the acting user, the store or the Celery app where it needs them, a
validated request from inputs.py), checks the domain rules, calls the lifecycle (shared/lifecycle,
which owns every state change), commits, and sends queue messages through send.py's
`commit_and_send` (commit first, then send; an unsent new record is marked failed).

A refusal is an errors.ActionError (NotFound, Conflict, Invalid, Unavailable) or the lifecycle's
QuotaExceeded; the API maps them to statuses in one place (services/plumbing/errors.py), the pages
to flashes and error pages. Visibility (whose records a user may see) is access.py's."""

from .errors import ActionError, Conflict, Invalid, NotFound, Unavailable

__all__ = ["ActionError", "Conflict", "Invalid", "NotFound", "Unavailable"]
