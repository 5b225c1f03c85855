"""The cluster fixture: built once per module, torn down even when a scenario (or its start)
fails; on failure every process's log tail is printed."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .harness import Cluster
from .network import NamespacesUnavailable, remove_leftovers
from .services import PG_BIN


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.cluster)


def cannot_run(reason: str) -> None:
    """A machine that cannot make the hosts: a developer's without root or PostgreSQL skips the
    suite, saying why; CI (root, PostgreSQL and Redis installed) must run it, so there it fails."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the cluster suite: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(request):
    for tool in (PG_BIN / "initdb", Path("/usr/bin/redis-server")):
        if not tool.exists():
            cannot_run(f"the cluster suite needs {tool}")
    if os.geteuid() != 0:
        cannot_run("the cluster suite makes network namespaces, which needs root (CI runs it as root)")
    left = remove_leftovers()
    if left:
        print(f"removed leftover namespaces of earlier runs: {left}")
    folder = Path(tempfile.mkdtemp(prefix="charlstm-cluster-"))
    try:
        built = Cluster(folder)
    except NamespacesUnavailable as exc:
        shutil.rmtree(folder, ignore_errors=True)
        cannot_run(str(exc))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    request.addfinalizer(lambda: _close(built, folder))
    print(f"\ncluster: migrated in {built.migrated:.1f} s, every process ready in {built.started:.1f} s")
    return built


def _close(built: Cluster, folder: Path) -> None:
    """Everything stopped and deleted; with CLUSTER_LOGS=<folder>, the logs are copied there first."""
    try:
        built.close()
    finally:
        keep = os.environ.get("CLUSTER_LOGS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for log in folder.glob("*.log"):
                shutil.copy(log, Path(keep) / log.name)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cluster = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.failed and cluster is not None:
        report.sections.append(("cluster logs", cluster.logs()))
