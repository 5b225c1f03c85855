"""Run a job's delete and SIGKILL this process right after its `after`-th object is deleted (the
crash-mid-delete test): `python -m tests.workers.kill_mid_delete JOB_ID AFTER` with DATABASE_URL,
S3_ENDPOINT_URL and S3_BUCKET set."""

import os
import signal
import sys

from shared.actions import delete as deletion
from shared.db.session import session_scope
from shared.storage import S3Store


class DyingStore(S3Store):
    deleted: list[str] = []
    after = 0

    def delete(self, key: str) -> None:
        super().delete(key)
        self.deleted.append(key)
        print("deleted", key, flush=True)
        if len(self.deleted) >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    job_id, DyingStore.after = int(sys.argv[1]), int(sys.argv[2])
    store = DyingStore(
        bucket=os.environ["S3_BUCKET"],
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        access_key_id="testing",
        secret_access_key="testing",
    )
    deletion.delete_job(lambda: session_scope(os.environ["DATABASE_URL"]), store, job_id)


if __name__ == "__main__":
    main()
