"""A real HTTP(S) server on 127.0.0.1 for the download tests, able to misbehave on purpose.

Files are registered by name; the first path segment chooses the behaviour:

    /ok/NAME            the file, with ETag and Range support (206)
    /cut/NAME           the first request stops half-way (connection closed); later ones behave
    /lie/NAME           announces more bytes than it sends, every time
    /norange/NAME       ignores Range: always 200 with the whole file
    /wrong/NAME         other bytes of the same length
    /status/CODE/NAME   always that status
    /flaky/N/NAME       N times 503, then the file
    /ratelimit/NAME     one 429 with Retry-After: 0, then the file
    /tohttp/NAME        302 to the plain-http twin server
    /drip/NAME          sends a few bytes, then stalls longer than the client's read timeout
    /big/NAME           the file followed by as many bytes again
    /slow/NAME          like /ok, but sends 64 KiB every 20 ms (to interrupt a download part-way)
    /nolength/NAME      the file without Content-Length: its end is the connection's close
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Request:
    path: str
    range: str | None
    if_range: str | None


@dataclass
class Files:
    data: dict[str, bytes] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    ranges: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header) seen
    log: list[Request] = field(default_factory=list)  # every GET, in the order received
    peers: dict[str, set[tuple[str, int]]] = field(default_factory=dict)  # path -> client (address, port) of each connection
    http_port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_for(self, name: str) -> list[Request]:
        """The requests for any path ending in ``/name``, in order."""
        with self.lock:
            return [r for r in self.log if r.path.rsplit("/", 1)[-1] == name]

    def add(self, name: str, content: bytes) -> str:
        self.data[name] = content
        return hashlib.sha256(content).hexdigest()


def make_handler(files: Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            behaviour, name = parts[0], parts[-1]
            with files.lock:
                files.hits[self.path] += 1
                hit = files.hits[self.path]
                if self.headers.get("Range"):
                    files.ranges.append((self.path, self.headers["Range"]))
                files.log.append(Request(self.path, self.headers.get("Range"), self.headers.get("If-Range")))
                files.peers.setdefault(self.path, set()).add(self.client_address[:2])
            content = files.data.get(name)
            if content is None:
                self._send(404, b"no such file")
                return
            etag = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'
            if behaviour == "status":
                self._send(int(parts[1]), b"error page")
            elif behaviour == "flaky" and hit <= int(parts[1]):
                self._send(503, b"busy")
            elif behaviour == "ratelimit" and hit == 1:
                self._send(429, b"slow down", {"Retry-After": "0"})
            elif behaviour == "tohttp":
                self._send(302, b"", {"Location": f"http://127.0.0.1:{files.http_port}/ok/{name}"})
            elif behaviour == "wrong":
                self._whole(bytes(b ^ 0xFF for b in content), etag)
            elif behaviour == "big":
                self._whole(content + content, etag)
            elif behaviour == "lie":
                self._send(200, content, {"Content-Length": str(len(content) + 1000)})
                self.close_connection = True
            elif behaviour == "cut" and hit == 1:
                half = len(content) // 2
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(content[:half])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif behaviour == "drip":
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content[:10])
                self.wfile.flush()
                time.sleep(3)
                self.close_connection = True
            elif behaviour == "nolength":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(content)
                self.close_connection = True
            elif behaviour == "slow":
                self._ranged(content, etag, slow=True)
            elif behaviour == "norange":
                self._whole(content, etag)
            else:
                self._ranged(content, etag)

        def _whole(self, body: bytes, etag: str) -> None:
            self._send(200, body, {"ETag": etag, "Accept-Ranges": "none"})

        def _ranged(self, content: bytes, etag: str, slow: bool = False) -> None:
            wanted = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if wanted and (if_range is None or if_range == etag):
                first, _, last = wanted.removeprefix("bytes=").partition("-")
                start = int(first)
                # "bytes=N-" (resume) or "bytes=N-M" (a BitTorrent web seed asks piece by piece).
                end = min(int(last), len(content) - 1) if last else len(content) - 1
                if start >= len(content) or end < start:
                    self._send(416, b"", {"Content-Range": f"bytes */{len(content)}"})
                    return
                body = content[start : end + 1]
                headers = {"ETag": etag, "Content-Range": f"bytes {start}-{end}/{len(content)}"}
                self._send_body(206, body, headers, slow)
                return
            self._send_body(200, content, {"ETag": etag, "Accept-Ranges": "bytes"}, slow)

        def _send_body(self, status: int, body: bytes, headers: dict[str, str], slow: bool) -> None:
            if not slow:
                self._send(status, body, headers)
                return
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(0, len(body), 65536):
                    self.wfile.write(body[i : i + 65536])
                    self.wfile.flush()
                    time.sleep(0.02)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_HEAD = do_GET

    return Handler


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the tests trust it through REQUESTS_CA_BUNDLE)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up on purpose (timeouts, killed downloads) are part of the tests: no tracebacks."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class LocalServer:
    """An HTTPS server and its plain-http twin, serving the same files."""

    def __init__(self, folder: Path):
        self.files = Files()
        self.cert, key = make_certificate(folder)
        handler = make_handler(self.files)
        self.https = _QuietServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.https.socket = context.wrap_socket(self.https.socket, server_side=True)
        self.http = _QuietServer(("127.0.0.1", 0), handler)
        self.files.http_port = self.http.server_address[1]
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self.https, self.http)]
        for thread in self.threads:
            thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.https.server_address[1]}/{path.lstrip('/')}"

    def http_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/{path.lstrip('/')}"

    def close(self) -> None:
        for server in (self.https, self.http):
            server.shutdown()
            server.server_close()
