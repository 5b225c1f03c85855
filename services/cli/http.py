"""A small client for the charlstm HTTP API on `requests`: JSON in and out, streamed uploads and
downloads, and one exception, `ClientError`, carrying the server's message and status code.

The base URL comes from the argument, else CHARLSTM_URL, else http://127.0.0.1:8000; the token
from the argument, else CHARLSTM_TOKEN. `add_service_flags` gives a command --url and --token.
"""

import io
import os
import re
import socket
import ssl
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"
CHUNK = 256 * 1024
TIMEOUT = (10, 60)  # connect, read (seconds)
UPLOAD_TIMEOUT = (10, 900)  # the server decodes and counts the whole corpus before it answers
HANDSHAKE_PROBE = 2.0  # seconds a TLS handshake may take before the client asks whether plain HTTP answers
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def add_service_flags(parser) -> None:
    service = parser.add_argument_group("service")
    service.add_argument("--url", metavar="URL", help=f"API base URL (default $CHARLSTM_URL or {DEFAULT_URL})")
    service.add_argument("--token", metavar="TOKEN", help="API token (default $CHARLSTM_TOKEN)")


class ClientError(Exception):
    """A request that failed: `status` is the HTTP status (None when no answer came back)."""

    def __init__(self, message: str, status: int | None = None, body: dict | None = None):
        super().__init__(message)
        self.message, self.status, self.body = message, status, body


class MultipartFile:
    """A multipart/form-data body that reads the file from disk as it is sent. It has a length,
    so requests sends a Content-Length and streams it instead of loading the file into memory."""

    def __init__(self, path: Path, fields: dict[str, str], on_read=None):
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        filename = path.name.replace('"', "%22").replace("\r", "").replace("\n", "")
        head = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
            for key, value in fields.items()
        )
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        )
        tail = f"\r\n--{boundary}--\r\n".encode()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._parts = [io.BytesIO(head.encode()), self._file, io.BytesIO(tail)]
        self._length = len(head.encode()) + os.fstat(self._file.fileno()).st_size + len(tail)
        self._on_read = on_read

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size is None or size < 0 else size
        while self._parts:
            chunk = self._parts[0].read(size)
            if chunk:
                if self._on_read is not None and self._parts[0] is self._file:
                    self._on_read(len(chunk))
                return chunk
            self._parts.pop(0)
        return b""

    def __iter__(self):
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._file.close()


def _unreachable(exc: BaseException) -> bool:
    """Did the connection fail to open (refused, unknown host), rather than break later?"""
    seen = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, (ConnectionRefusedError, socket.gaierror)) or type(err).__name__ == "NewConnectionError":
            return True
        linked = [err.__cause__, err.__context__, getattr(err, "reason", None), *err.args]
        stack.extend(link for link in linked if isinstance(link, BaseException))
    return False


def base_url_problem(url: str, given_as: str) -> str | None:
    """What is wrong with a base URL and what to type instead (None when it looks right).
    `given_as` names where it came from: "--url" or "CHARLSTM_URL="."""
    if not SCHEME.match(url):
        return f"{given_as}{url} has no scheme: use {given_as}http://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"{given_as}{url}: the scheme must be http or https, as in {given_as}http://{parts.netloc}"
    if not parts.hostname:
        return f"{given_as}{url} names no host: use {given_as}http://127.0.0.1:8000 or the service's address"
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        root = url[: url.rstrip("/").rfind(API_PREFIX)]
        return f"{given_as}{url} ends in {API_PREFIX}, which the client adds itself: use {given_as}{root}"
    return None


def speaks_plain_http(url: str) -> bool:
    """Is the https `url` served by a plain-HTTP server? A TLS server answers a handshake at once;
    a plain-HTTP server waits for a request line that never comes (waitress: until the client's
    timeout). So: a handshake that fails or stalls for HANDSHAKE_PROBE seconds, and then a plain
    `HEAD /` answered with an HTTP status line, means plain HTTP. Unreachable hosts say False
    (the request that follows reports them)."""
    parts = urlsplit(url)
    address = (parts.hostname or "", parts.port or 443)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # only: does it speak TLS at all?
    try:
        with (
            socket.create_connection(address, timeout=HANDSHAKE_PROBE) as sock,
            context.wrap_socket(sock, server_hostname=parts.hostname),
        ):
            return False
    except (TimeoutError, ssl.SSLError, ConnectionResetError):
        pass  # no TLS answer: the plain request below tells a plain-HTTP server from a broken one
    except OSError:
        return False
    try:
        with socket.create_connection(address, timeout=HANDSHAKE_PROBE) as sock:
            sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
            head = sock.recv(512)
    except OSError:
        return False
    # nginx answers plain HTTP on its TLS port with a 400 that says so: that server does speak TLS
    return head.startswith(b"HTTP/") and b"HTTPS port" not in head


def error_message(response: requests.Response) -> tuple[str, dict | None]:
    """The server's `{"error": ..., "detail": [...]}` as one line (or the start of a non-JSON body)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        message = str(body["error"])
        details = [  # a detail that repeats the message says nothing new
            f"{'.'.join(map(str, d.get('loc', []))) or 'value'}: {d.get('msg')}"
            for d in body.get("detail") or []
            if isinstance(d, dict) and d.get("msg") != message
        ]
        if details:
            message += " (" + "; ".join(details) + ")"
        return message, body
    text = response.text.strip().splitlines()
    return (text[0][:200] if text else response.reason or "error"), None


class ApiClient:
    def __init__(self, base_url: str | None = None, token: str | None = None, session: requests.Session | None = None):
        given_as = "--url " if base_url else "CHARLSTM_URL="
        url = (base_url or os.environ.get("CHARLSTM_URL") or DEFAULT_URL).strip()
        problem = base_url_problem(url, given_as)
        if problem is not None:
            raise ClientError(problem)
        self.base_url = url.rstrip("/")
        self._given_as = given_as
        self._tls_checked = not self.base_url.startswith("https:")
        self.token = token or os.environ.get("CHARLSTM_TOKEN") or None
        self.session = session or requests.Session()
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def _check_tls(self) -> None:
        """Before the first request to an https URL: a plain-HTTP server there is named at once,
        instead of after the connect timeout."""
        if self._tls_checked:
            return
        self._tls_checked = True
        if speaks_plain_http(self.base_url):
            plain = "http:" + self.base_url[len("https:") :]
            raise ClientError(
                f"{self._given_as}{self.base_url}: the server speaks plain HTTP, not HTTPS: use {self._given_as}{plain}"
            )

    def url(self, path: str) -> str:
        """`jobs/3` is under /api/v1; a path starting with `/` (`/healthz`) is taken as it is."""
        return self.base_url + (path if path.startswith("/") else f"{API_PREFIX}/{path}")

    def request(self, method: str, path: str, timeout=TIMEOUT, **kwargs) -> requests.Response:
        url = self.url(path)
        self._check_tls()
        try:
            response = self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout as exc:
            raise ClientError(f"the server at {self.base_url} did not answer in time ({method} {url})") from exc
        except requests.exceptions.SSLError as exc:
            raise ClientError(f"TLS with the server at {self.base_url} failed: {exc}") from exc
        except requests.ConnectionError as exc:
            if _unreachable(exc):
                raise ClientError(f"cannot reach the server at {self.base_url}") from exc
            raise ClientError(f"lost the connection to {self.base_url} ({method} {url}): {exc}") from exc
        if response.status_code >= 400:
            message, body = error_message(response)
            response.close()
            if response.status_code == 401:
                message += "; pass --token or set CHARLSTM_TOKEN"
            raise ClientError(f"{message} (HTTP {response.status_code})", response.status_code, body)
        return response

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.request("POST", path, json=body if body is not None else {}).json()

    def upload(self, path: str, file: Path, fields: dict[str, str] | None = None, on_read=None) -> dict:
        """POST `file` as the multipart field `file` (plus text `fields`), streamed from disk."""
        body = MultipartFile(Path(file), {k: v for k, v in (fields or {}).items() if v is not None}, on_read)
        try:
            return self.request(
                "POST", path, data=body, headers={"Content-Type": body.content_type}, timeout=UPLOAD_TIMEOUT
            ).json()
        finally:
            body.close()

    def download(self, path: str, out: Path, on_chunk=None) -> str:
        """Stream the answer into `out` (written to `out.part`, renamed when complete); returns
        its Content-Type."""
        out = Path(out)
        partial = out.with_name(out.name + ".part")
        with self.request("GET", path, stream=True) as response:
            try:
                with open(partial, "wb") as handle:
                    for chunk in response.iter_content(CHUNK):
                        handle.write(chunk)
                        if on_chunk is not None:
                            on_chunk(len(chunk))
            except requests.RequestException as exc:
                partial.unlink(missing_ok=True)
                raise ClientError(f"download from {self.base_url} broke off: {exc}") from exc
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(out)
            return response.headers.get("Content-Type", "")
