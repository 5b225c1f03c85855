"""docker-compose.yml, Dockerfile and Dockerfile.gpu, checked without a Docker engine: the Compose
file validates against the Compose specification's JSON schema (vendored, see README.md here),
its references resolve (services, Dockerfiles, COPY sources, the code each command runs), images
are pinned, and the image's dependencies (pyproject.toml) provide everything the code imports."""

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OUR_CODE = ("shared", "services", "workers")


def dockerfile_of(service: dict) -> Path:
    build = service["build"]
    if isinstance(build, str):
        return ROOT / build / "Dockerfile"
    return ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


BUILT = {name: service for name, service in SERVICES.items() if "build" in service}
DOCKERFILES = sorted({dockerfile_of(service) for service in BUILT.values()})


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_validates_against_the_compose_spec():
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_services_are_the_expected_ones():
    assert set(SERVICES) == {
        "postgres",
        "redis",
        "minio",
        "createbucket",
        "migrate",
        "api",
        "training-worker",
        "sampling-worker",
        "reconciler",
    }
    assert set(BUILT) == {"migrate", "api", "training-worker", "sampling-worker", "reconciler"}
    assert dockerfile_of(SERVICES["training-worker"]).name == "Dockerfile.gpu"
    assert {dockerfile_of(SERVICES[name]).name for name in ("migrate", "api", "sampling-worker")} == {"Dockerfile"}


def test_every_app_service_has_the_shared_environment():
    shared = COMPOSE["x-charlstm-env"]
    assert shared["DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:5432/" in shared["DATABASE_URL"]
    assert shared["BROKER_URL"] == "redis://redis:6379/0" and shared["S3_ENDPOINT_URL"] == "http://minio:9000"
    for key in ("S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "SECRET_KEY"):
        assert shared[key]
    for name, service in BUILT.items():
        assert service["environment"] == shared, name


SECRETS = ("SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?+])([^}]*))?\}")


def strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in strings(key) + strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def test_secrets_have_no_defaults_and_are_required():
    """Every use of a secret is `${NAME:?message}`: compose refuses to start without it (no
    `change-me` default anyone could forge sessions with)."""
    uses = [match for text in strings(COMPOSE) for match in INTERPOLATION.finditer(text)]
    by_name: dict[str, list[tuple[str, str]]] = {}
    for match in uses:
        by_name.setdefault(match.group(1), []).append((match.group(2) or "", match.group(3) or ""))
    assert set(SECRETS) <= set(by_name)
    for name in SECRETS:
        for operator, message in by_name[name]:
            assert operator == ":?" and name in message, (name, operator, message)
    raw = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in raw and "charlstm-secret" not in raw
    assert COMPOSE["x-charlstm-env"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_depends_on_names_services_and_waits_for_the_right_state():
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES and dependency != name, f"{name} depends on {dependency}"
    conditions = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in SERVICES.items()
    }
    assert conditions["migrate"] == {"postgres": "service_healthy"}
    assert conditions["api"]["migrate"] == "service_completed_successfully"
    assert conditions["createbucket"] == {"minio": "service_healthy"}
    for name in ("postgres", "redis", "minio", "api"):
        assert SERVICES[name]["healthcheck"]["test"], name


def test_external_images_are_pinned():
    for name, service in SERVICES.items():
        if name in BUILT:
            continue
        repository, _, tag = service["image"].partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {service['image']}"
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert SERVICES["redis"]["image"].startswith("redis:7.4")
    assert SERVICES["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert SERVICES["createbucket"]["image"].startswith("minio/mc:RELEASE.")


def test_training_worker_reserves_one_gpu():
    devices = SERVICES["training-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


@pytest.mark.parametrize("name", sorted(BUILT))
def test_commands_name_code_that_exists(name):
    command = SERVICES[name]["command"]
    argv = shlex.split(command) if isinstance(command, str) else command
    if argv[0] in ("python", "python3"):
        assert argv[1] == "-m", argv
        module = argv[2]
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{name}: no module {module}"
        if spec.submodule_search_locations is not None:  # a package runs its __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{name}: {module} has no __main__"
    else:
        pytest.fail(f"{name}: unexpected command {argv}")


def test_api_is_served_as_make_up_serves_it():
    """The API runs services.serve (waitress), as services.launcher runs it, on every interface of
    its container; its healthcheck is liveness (/healthz), and the image's default command agrees."""
    from services.launcher import api_command

    command = SERVICES["api"]["command"]
    assert command[:3] == ["python", "-m", "services.serve"] == ["python", *api_command(8000)[1:3]]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--host"] == "0.0.0.0" and options["--port"] == "8000" and int(options["--threads"]) >= 4
    assert "/healthz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    cmd = next(args for op, args in instructions(ROOT / "Dockerfile") if op == "CMD")
    assert json.loads(cmd) == command
    assert SERVICES["api"]["ports"] == ["${CHARLSTM_PORT:-8000}:8000"]


def test_build_dockerfiles_exist():
    for name, service in BUILT.items():
        assert dockerfile_of(service).is_file(), name


def dockerignored() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_and_are_not_ignored(dockerfile):
    copies = [args for op, args in instructions(dockerfile) if op in ("COPY", "ADD")]
    assert copies
    for args in copies:
        parts = json.loads(args) if args.startswith("[") else shlex.split(args)
        parts = [p for p in parts if not p.startswith("--")]
        for source in parts[:-1]:
            assert list(ROOT.glob(source)), f"{dockerfile.name}: COPY source {source} does not exist"
            assert source not in dockerignored(), f"{dockerfile.name}: {source} is in .dockerignore"


def test_gpu_image_matches_the_tensorflow_pin():
    pins = [Requirement(d) for d in PYPROJECT["project"]["dependencies"]]
    tensorflow = next(r for r in pins if r.name.startswith("tensorflow"))
    version = str(tensorflow.specifier).removeprefix("==")
    base = next(args for op, args in instructions(ROOT / "Dockerfile.gpu") if op == "FROM")
    assert base == f"tensorflow/tensorflow:{version}-gpu"
    assert next(args for op, args in instructions(ROOT / "Dockerfile") if op == "FROM").startswith("python:3.11")


# ---- the image installs pyproject.toml's dependencies: do they cover every import? ----------------


def dependency_closure(requirements: list[str]) -> set[str]:
    """Distribution names reachable from `requirements` (with their extras) in this environment."""
    seen: set[tuple[str, frozenset]] = set()
    stack = [Requirement(r) for r in requirements]
    names: set[str] = set()
    while stack:
        req = stack.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(key[0])
        try:
            requires = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for sub in map(Requirement, requires):
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra}) for extra in extras):
                stack.append(sub)
    return names


def third_party_imports() -> dict[str, str]:
    """Top-level module -> a file importing it, over the code in the image."""
    found: dict[str, str] = {}
    for package in OUR_CODE:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OUR_CODE and top != "__future__":
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_image_dependencies_cover_every_import():
    provided = dependency_closure(PYPROJECT["project"]["dependencies"])
    distributions = importlib.metadata.packages_distributions()
    missing = {
        module: where
        for module, where in third_party_imports().items()
        if not {canonicalize_name(d) for d in distributions.get(module, [])} & provided
    }
    assert not missing, f"imported but not installed by pyproject.toml's dependencies: {missing}"
