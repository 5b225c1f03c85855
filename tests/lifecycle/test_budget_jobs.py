"""A budgeted job: the worker records what the recipe chose, and a job continuing it has no budget
(its parent's is spent) without counting as a fork."""

from shared import lifecycle
from shared.db.models import Job, WorkStatus
from shared.engine.training.train import EpochReport


def test_the_recipes_choices_replace_the_asked_hyperparameters_and_a_child_has_no_budget(db, job_id, owner):
    with db() as session:
        lifecycle.claim_job(session, job_id, "w")
        asked = session.get(Job, job_id).hyperparameters
        chosen = asked.model_copy(update={"budget_seconds": 900, "optimizer": "adam", "schedule": "cosine"})
        lifecycle.record_vocabulary(session, job_id, ["a", "b"], "w", hyperparameters=chosen)
        lifecycle.record_epoch(session, job_id, EpochReport(1, 2.0, 2.5, 1.0, 9.0), f"jobs/{job_id}/e1", "w")
        lifecycle.finish_job(session, job_id, WorkStatus.succeeded, worker="w")
    with db() as session:
        parent = session.get(Job, job_id)
        assert parent.hyperparameters == chosen and parent.vocabulary == ["a", "b"]
        child = lifecycle.lineage.create_child_job(session, parent, owner, 2)
        assert child.hyperparameters.budget_seconds is None
        assert child.hyperparameters.model_copy(update={"budget_seconds": 900, "epochs": chosen.epochs}) == chosen
        assert child.hyperparameters.epochs == 3
        assert child.name.endswith("(continued)")  # dropping the spent budget is not a fork
