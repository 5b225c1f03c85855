"""Deletion: the options of a delete and its answer."""

from pydantic import BaseModel, Field

from shared.actions.inputs import NoQuery


class DeleteJobQuery(NoQuery):
    cancel: bool = Field(False, description="cancel a queued or running job first (202 until it has stopped)")


class DeleteCorpusQuery(NoQuery):
    with_jobs: bool = Field(False, description="delete the jobs that use the corpus too (cancelled first)")


class Deleted(BaseModel):
    status: str = Field(description="deleted, or deleting (202: finished once the job has stopped)")
