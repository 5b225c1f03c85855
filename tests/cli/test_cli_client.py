"""The service client commands (services/cli/client.py, services/cli/http.py) against a small fake
API served over real HTTP in a thread: what they send, what they print, their exit codes."""

import io
import threading
import zipfile

import pytest
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from services.cli.http import ApiClient, ClientError, MultipartFile
from services.cli.main import main

TOKEN = "good-token"


def job(status="running", epoch=0, progress=0.0, history=(), error=None, id=5):
    return {
        "id": id,
        "corpus_id": 1,
        "status": status,
        "epoch": epoch,
        "epochs": 3,
        "progress": progress,
        "best_val_loss": 1.25 if history else None,
        "error": error,
        "eta_seconds": 30.0 if history else None,
        "cancel_requested": False,
        "created_at": "2025-01-02T03:04:05+00:00",
        "history": list(history),
    }


def epoch_row(n):
    return {
        "epoch": n,
        "loss": 1.5 / n,
        "val_loss": 1.6 / n,
        "loss_bits": 2.1 / n,
        "val_loss_bits": 2.3 / n,
        "seconds": 10.0,
        "chars_per_second": 12345.0,
    }


class FakeApi:
    """State of the fake service: scripted answers and what it received."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.job_states = [job()]
        self.sample_states = [{"id": 9, "status": "succeeded", "error": None}]
        self.sample_body = b"generated text\n" * 1000
        self.sample_zip = False
        self.jobs = [job(status="succeeded" if i % 2 else "queued", id=i) for i in range(1, 131)]
        self.failures = 0  # answer 503 this many times to GET /jobs/<id>

    def app(self) -> Flask:
        app = Flask("fake")

        @app.before_request
        def auth():
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return jsonify(error="invalid token"), 401

        @app.get("/api/v1/corpora")
        def corpora():
            return {"items": [], "page": 1, "per_page": 1, "total": 0}

        @app.post("/api/v1/corpora")
        def upload():
            data = request.files["file"].read()
            self.received.append(
                (
                    "upload",
                    {
                        "data": data,
                        "name": request.form.get("name"),
                        "filename": request.files["file"].filename,
                        "content_length": request.content_length,
                        "chunked": "chunked" in request.headers.get("Transfer-Encoding", ""),
                    },
                )
            )
            return {
                "id": 7,
                "name": request.form.get("name") or "f.txt",
                "bytes": len(data),
                "raw_chars": len(data),
                "raw_unique": len(set(data)),
                "clean_chars": len(data),
                "clean_unique": len(set(data)),
            }, 201

        @app.post("/api/v1/jobs")
        def submit():
            body = request.get_json()
            self.received.append(("submit", body))
            if body["corpus_id"] == 999:
                return {"error": "corpus 999 not found"}, 404
            if body.get("layers") == 9:
                return {
                    "error": "request validation failed",
                    "detail": [{"loc": ["layers"], "msg": "less than or equal to 4", "type": "x"}],
                }, 422
            return job(status="queued", id=5), 202

        @app.get("/api/v1/jobs")
        def jobs():
            self.received.append(("jobs", dict(request.args)))
            page, per_page = int(request.args["page"]), int(request.args["per_page"])
            items = [j for j in self.jobs if request.args.get("status") in (None, j["status"])]
            return {
                "items": items[(page - 1) * per_page : page * per_page],
                "page": page,
                "per_page": per_page,
                "total": len(items),
            }

        @app.get("/api/v1/jobs/<int:job_id>")
        def get_job(job_id):
            if self.failures:
                self.failures -= 1
                return {"error": "database unavailable"}, 503
            if job_id != 5:
                return {"error": f"job {job_id} not found"}, 404
            return self.job_states.pop(0) if len(self.job_states) > 1 else self.job_states[0]

        @app.post("/api/v1/jobs/<int:job_id>/cancel")
        def cancel(job_id):
            return {**job(status="running"), "cancel_requested": True}

        @app.post("/api/v1/jobs/<int:job_id>/samples")
        def create_sample(job_id):
            body = request.get_json()
            self.received.append(("sample", body))
            return {"id": 9, "status": "queued", "error": None, "epoch": body.get("epoch", 3), "precision": "int8"}, 202

        @app.get("/api/v1/samples/9")
        def get_sample():
            return self.sample_states.pop(0) if len(self.sample_states) > 1 else self.sample_states[0]

        @app.get("/api/v1/samples/9/text")
        def sample_text():
            if self.sample_zip:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w") as archive:
                    for name in ("sample-1-t0.5.txt", "sample-2-t0.5.txt", "sample-1-t1.txt", "sample-2-t1.txt"):
                        archive.writestr(name, name.upper())
                return Response(buffer.getvalue(), mimetype="application/zip")
            chunks = (self.sample_body[i : i + 4096] for i in range(0, len(self.sample_body), 4096))
            return Response(chunks, content_type="text/plain; charset=utf-8")

        return app


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    server = make_server("127.0.0.1", 0, fake.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("CHARLSTM_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("CHARLSTM_TOKEN", TOKEN)
    yield fake
    server.shutdown()
    thread.join()


def test_upload_streams_the_file_with_a_content_length(api, tmp_path, capsys):
    corpus = tmp_path / 'my "corpus".txt'
    corpus.write_bytes(b"def f(x):\n    return x\n" * 20_000)
    assert main(["upload", str(corpus), "--name", "Pythön code"]) == 0
    ((_, got),) = [r for r in api.received if r[0] == "upload"]
    assert got["data"] == corpus.read_bytes() and got["name"] == "Pythön code"
    assert got["content_length"] > corpus.stat().st_size and not got["chunked"]
    out = capsys.readouterr().out
    assert "corpus 7 (Pythön code): 460,000 bytes" in out and "charlstm submit 7" in out

    assert main(["upload", str(corpus), "-q"]) == 0
    assert capsys.readouterr().out == "7\n"


def test_multipart_body_is_read_in_pieces(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 100_000)
    seen: list[int] = []
    body = MultipartFile(path, {"name": "n"}, on_read=seen.append)
    chunks = iter(lambda: body.read(8192), b"")
    data = b"".join(chunk for chunk in chunks if len(chunk) <= 8192)
    body.close()
    assert len(data) == len(body) and sum(seen) == 100_000
    assert data.count(b"x" * 100_000) == 1 and data.endswith(b"--\r\n")


def test_upload_bad_token_and_missing_file(api, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHARLSTM_TOKEN", "wrong")
    path = tmp_path / "c.txt"
    path.write_text("abc")
    assert main(["upload", str(path)]) == 2
    assert "invalid token; pass --token or set CHARLSTM_TOKEN (HTTP 401)" in capsys.readouterr().err
    assert main(["upload", str(path), "--token", TOKEN]) == 0  # --token wins over the environment
    assert main(["upload", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err
    assert [r[0] for r in api.received] == ["upload"]


def test_submit_sends_only_given_hyperparameters(api, capsys):
    assert main(["submit", "3", "--layers", "2", "--lr", "0.002", "--optimizer", "adam", "--lowercase"]) == 0
    assert api.received[-1] == (
        "submit",
        {"corpus_id": 3, "layers": 2, "learning_rate": 0.002, "optimizer": "adam", "lowercase": True},
    )
    assert "job 5 queued" in capsys.readouterr().out
    assert main(["submit", "3", "-q"]) == 0
    assert capsys.readouterr().out == "5\n"


def test_server_errors_become_one_line(api, capsys):
    assert main(["submit", "999"]) == 2
    assert capsys.readouterr().err == "charlstm: error: corpus 999 not found (HTTP 404)\n"
    assert main(["submit", "1", "--layers", "9"]) == 2
    assert "request validation failed (layers: less than or equal to 4) (HTTP 422)" in capsys.readouterr().err


def test_jobs_table_walks_every_page(api, capsys):
    assert main(["jobs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "CORPUS"] and len(lines) == 131
    assert lines[1].split()[:4] == ["1", "succeeded", "1", "0/3"]
    assert "BEST VAL BITS/CHAR" in lines[0]  # the unit the admin pages show too
    assert "2025-01-02 03:04:05 UTC" in lines[1]  # one format for absolute times, the zone named
    assert main(["jobs", "--status", "queued"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 66
    assert api.received[-1][1]["status"] == "queued"
    api.jobs = []
    assert main(["jobs"]) == 0 and capsys.readouterr().out == "no jobs\n"


def test_watch_prints_each_epoch_once_and_exits_0_on_success(api, capsys):
    api.failures = 2  # a restarting server is retried
    api.job_states = [
        job("queued"),
        job(progress=0.5),
        job(epoch=1, progress=0.2, history=[epoch_row(1)]),
        job(epoch=1, progress=0.9, history=[epoch_row(1)]),
        job("succeeded", epoch=2, progress=0.0, history=[epoch_row(1), epoch_row(2)]),
    ]
    assert main(["watch", "5", "--interval", "0.01"]) == 0
    out = capsys.readouterr().out
    line = "epoch 1: loss 2.100 bits/char (1.5000 nats), val_loss 2.300 bits/char (1.6000 nats), 10.0 s, 12,345 chars/s"
    assert out.count(line) == 1  # bits per character first
    assert out.count("epoch 2: loss") == 1
    assert "job 5 succeeded after 2 epochs, best val_loss 1.803 bits/char (1.2500 nats)" in out


def test_a_running_sample_at_0_is_loading_its_model():
    from services.cli.client import sample_state

    assert sample_state(9, "running", 0.0) == "sample 9 running: loading the model"
    assert sample_state(9, "running", 0.1) == "sample 9 running"
    assert sample_state(9, "queued", 0.0) == "sample 9 queued"


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_watch_exits_1_when_the_job_does_not_succeed(api, capsys, status):
    api.job_states = [job(progress=0.3), job(status, epoch=1, history=[epoch_row(1)], error="out of memory")]
    assert main(["watch", "5", "--interval", "0.01"]) == 1
    assert f"job 5 {status}: out of memory" in capsys.readouterr().err


def test_watch_unknown_job(api, capsys):
    assert main(["watch", "6", "--interval", "0.01"]) == 2
    assert "job 6 not found (HTTP 404)" in capsys.readouterr().err


def test_cancel(api, capsys):
    assert main(["cancel", "5"]) == 0
    assert "job 5 running (cancel requested" in capsys.readouterr().out


def test_sample_waits_then_downloads_the_text(api, tmp_path, capsys):
    api.sample_states = [
        {"id": 9, "status": "queued"},
        {"id": 9, "status": "running"},
        {"id": 9, "status": "succeeded", "error": None},
    ]
    out = tmp_path / "sample.txt"
    argv = [
        "sample",
        "5",
        "--length",
        "1000",
        "--temperature",
        "0.5",
        "--random-seed",
        "3",
        "--out",
        str(out),
        "--interval",
        "0.01",
    ]
    assert main(argv) == 0
    assert api.received[-1] == ("sample", {"length": 1000, "count": 1, "temperature": 0.5, "random_seed": 3})
    assert out.read_bytes() == api.sample_body and not (tmp_path / "sample.txt.part").exists()
    assert f"wrote {len(api.sample_body):,} characters to {out}" in capsys.readouterr().err
    api.sample_states = [{"id": 9, "status": "succeeded", "error": None}]
    assert main(argv[:-4] + ["--interval", "0.01"]) == 0  # no --out: to stdout, as a local sample
    assert capsys.readouterr().out == api.sample_body.decode() + "\n"


def test_sample_several_temperatures_gives_a_zip(api, tmp_path, capsys):
    api.sample_zip = True
    out = tmp_path / "samples.zip"
    argv = [
        "sample",
        "5",
        "--temperature",
        "0.5",
        "--temperature",
        "1.0",
        "--count",
        "2",
        "--seed-text",
        "def ",
        "--out",
        str(out),
        "--interval",
        "0.01",
    ]
    assert main(argv) == 0
    assert api.received[-1][1] == {"length": 50_000, "count": 2, "temperature": [0.5, 1.0], "seed_text": "def "}
    names = ["sample-1-t0.5.txt", "sample-2-t0.5.txt", "sample-1-t1.txt", "sample-2-t1.txt"]
    assert zipfile.ZipFile(out).namelist() == [n.replace("sample", "sample-9") for n in names]  # the sample's id
    assert "wrote 4 texts to" in capsys.readouterr().err
    argv[argv.index(str(out))] = str(tmp_path / "var" / "run.txt")  # not a zip: one file each, named alike
    assert main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == sorted(n.replace("sample", "run") for n in names)
    assert (tmp_path / "var" / "run-2-t1.txt").read_text() == "SAMPLE-2-T1.TXT"


def test_sample_failed_sample(api, tmp_path, capsys):
    api.sample_states = [{"id": 9, "status": "failed", "error": "checkpoint missing"}]
    assert main(["sample", "5", "--out", str(tmp_path / "s.txt"), "--interval", "0.01"]) == 1
    assert "sample 9 failed: checkpoint missing" in capsys.readouterr().err  # the same words as the API
    assert not (tmp_path / "s.txt").exists()


def test_connection_refused_is_a_client_error(tmp_path, capsys):
    with pytest.raises(ClientError, match=r"cannot reach the server at http://127\.0\.0\.1:9$") as info:
        ApiClient("http://127.0.0.1:9/", "t").get("jobs")
    assert info.value.status is None
    assert main(["jobs", "--url", "http://127.0.0.1:9", "--token", "t"]) == 2
    assert capsys.readouterr().err == "charlstm: error: cannot reach the server at http://127.0.0.1:9\n"


def test_https_to_a_plain_http_server_names_the_fix_at_once(api, capsys):
    """A TLS handshake against a plain-HTTP server (the fake API): one clear line, not a traceback."""
    import os

    plain = os.environ["CHARLSTM_URL"]
    url = plain.replace("http://", "https://")
    assert main(["jobs", "--url", url, "--token", TOKEN]) == 2
    err = capsys.readouterr().err
    assert err == f"charlstm: error: --url {url}: the server speaks plain HTTP, not HTTPS: use --url {plain}\n"


def test_https_to_waitress_fails_fast():
    """waitress waits for a request line that a TLS handshake never sends: the client does not
    wait for its connect timeout to find out."""
    import time

    from waitress import create_server

    server = create_server(lambda environ, start: [], host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.effective_port}"
        started = time.monotonic()
        with pytest.raises(ClientError, match="speaks plain HTTP, not HTTPS: use --url http://127"):
            ApiClient(url, "t").get("jobs")
        assert time.monotonic() - started < 6
    finally:
        server.close()
        thread.join(5)


@pytest.mark.parametrize(
    "url, message",
    [
        ("127.0.0.1:8701", "--url 127.0.0.1:8701 has no scheme: use --url http://127.0.0.1:8701"),
        ("localhost:8701", "--url localhost:8701 has no scheme: use --url http://localhost:8701"),
        (
            "http://127.0.0.1:8701/api/v1",
            "--url http://127.0.0.1:8701/api/v1 ends in /api/v1, which the client adds itself: "
            "use --url http://127.0.0.1:8701",
        ),
        (
            "http://127.0.0.1:8701/api/v1/",
            "--url http://127.0.0.1:8701/api/v1/ ends in /api/v1, which the client adds itself: "
            "use --url http://127.0.0.1:8701",
        ),
        ("ftp://host:1", "--url ftp://host:1: the scheme must be http or https, as in --url http://host:1"),
    ],
)
def test_a_wrong_url_says_what_to_type(url, message, capsys):
    assert main(["jobs", "--url", url, "--token", "t"]) == 2
    assert capsys.readouterr().err == f"charlstm: error: {message}\n"


def test_a_wrong_url_in_the_environment_is_named_as_such(monkeypatch, capsys):
    monkeypatch.setenv("CHARLSTM_URL", "127.0.0.1:8701")
    assert main(["jobs", "--token", "t"]) == 2
    err = capsys.readouterr().err
    assert err == "charlstm: error: CHARLSTM_URL=127.0.0.1:8701 has no scheme: use CHARLSTM_URL=http://127.0.0.1:8701\n"


def test_help_names_the_values_url_and_token(capsys):
    from services.cli.main import build_parser

    for argv in ([], ["jobs"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*argv, "--help"])
        out = capsys.readouterr().out
        assert "--url URL" in out and "--token TOKEN" in out
        assert "ROOT_URL" not in out and "ROOT_TOKEN" not in out


def test_a_closed_pipe_ends_quietly(api):
    """`charlstm jobs | head -2`: no "Broken pipe" error when the reader leaves early."""
    import os
    import subprocess
    import sys

    code = "import sys; from services.cli.main import main; sys.exit(main(['jobs']))"
    shell = f'{sys.executable} -c "{code}" | head -2'
    done = subprocess.run(shell, shell=True, capture_output=True, text=True, env=os.environ, timeout=60)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2
    assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr


def test_a_detail_that_repeats_the_error_is_not_printed_twice(api, capsys, tmp_path):
    from services.cli.http import error_message

    class Answer:
        def json(self):
            msg = "a.txt: contains NUL bytes"
            return {"error": msg, "detail": [{"loc": ["file"], "msg": msg}, {"loc": ["name"], "msg": "too long"}]}

    assert error_message(Answer())[0] == "a.txt: contains NUL bytes (name: too long)"  # type: ignore[arg-type]


def test_sample_service_flag_wins_over_a_folder_named_like_the_job(api, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "5").mkdir()  # a folder named like job 5, not a checkpoint
    assert main(["sample", "5", "--out", "x.txt"]) == 2  # a folder: sampled locally, and it is no checkpoint
    assert "not a checkpoint" in capsys.readouterr().err
    assert main(["sample", "5", "--service", "--out", "x.txt", "--interval", "0.01"]) == 0
    assert (tmp_path / "x.txt").exists()
    assert main(["sample", "run", "--service", "--out", "x.txt"]) == 2
    assert "--service needs a job id" in capsys.readouterr().err


def test_no_token(monkeypatch, capsys):
    monkeypatch.delenv("CHARLSTM_TOKEN", raising=False)
    assert main(["jobs"]) == 2
    assert "no API token" in capsys.readouterr().err


def test_no_cli_module_imports_one_that_imports_it_back():
    """The import graph of services/cli (imports inside functions included) has no cycle."""
    import ast
    from pathlib import Path

    import services.cli

    folder = Path(services.cli.__file__).parent
    modules = {path.stem for path in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name in modules:
        imported = set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level == 1:  # from . import x / from .x import y
                    imported |= {alias.name for alias in node.names} if not base else {base.split(".")[0]}
                elif base.startswith("services.cli."):
                    imported.add(base.split(".")[2])
                elif base == "services.cli":
                    imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name.split(".")[2] for a in node.names if a.name.startswith("services.cli.")}
        graph[name] = (imported & modules) - {name}

    def cycle_from(start, path):
        for nxt in sorted(graph[path[-1]]):
            if nxt == start:
                return [*path, start]
            if nxt not in path and (found := cycle_from(start, [*path, nxt])):
                return found
        return None

    cycles = [c for name in sorted(modules) if (c := cycle_from(name, [name]))]
    assert cycles == []
    assert graph["sample"] >= {"local", "client"}  # the graph was read


def test_sample_options_go_to_the_service_and_its_figures_are_printed(api, tmp_path, capsys):
    quality = {"name": "sample-1-t0.5.txt", "temperature": 0.5, "chars": 100, "lines": 4, "blocks": 2,
               "parse_rate": 0.5, "balanced_lines": 1.0, "indent_multiple_of_4": 1.0, "identifiers_defined": 0.75,
               "bits_per_char": 2.5, "char_divergence": 0.125}  # fmt: skip
    novelty = {"name": "sample-1-t0.5.txt", "temperature": 0.5, "copied_lines": 0.25, "longest_copy": 42}
    api.sample_states = [
        {"id": 9, "status": "running", "progress": 0.5},
        {"id": 9, "status": "succeeded", "error": None, "quality": [quality], "novelty": [novelty]},
    ]
    argv = ["sample", "5", "--length", "100", "--temperature", "0.5", "--top-k", "5", "--top-p", "0.9"]
    argv += ["--precision", "float32", "--epoch", "2", "--out", str(tmp_path / "s.txt"), "--interval", "0.01"]
    assert main(argv) == 0
    assert api.received[-1][1] == {"length": 100, "count": 1, "temperature": 0.5, "top_k": 5, "top_p": 0.9,
                                   "precision": "float32", "epoch": 2}  # fmt: skip
    err = capsys.readouterr().err
    assert "sample 9: epoch 2, precision int8" in err
    figures = (
        "sample-1-t0.5.txt: model's confidence 2.500 bits/char, 50% of 2 blocks parse, 100% lines balanced, "
        "100% indents x4, 75% names defined, char divergence 0.125 bits, 25% lines copied, longest copy 42 chars"
    )
    assert figures in err
    api.sample_states = [{"id": 9, "status": "succeeded", "error": None}]
    assert main(["sample", "5", "--greedy", "--out", str(tmp_path / "g.txt"), "--interval", "0.01"]) == 0
    assert api.received[-1][1]["temperature"] == 0.0  # as locally: --greedy alone is temperature 0 only
