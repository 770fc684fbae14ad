"""A TCP proxy in front of a real server (the S3 server), to make it fail on demand the way a
real store does: `down()` (connections refused: closed at once, nothing answered),
`answer_503(n)` (the next n requests get HTTP 503 Service Unavailable, then it passes
again), `up()`. Each connection is relayed byte for byte otherwise."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

from tests.support.ports import free_port

_BODY = b"<Error><Code>ServiceUnavailable</Code><Message>down for the test</Message></Error>"
_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
    + f"Content-Length: {len(_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _BODY
)


class FaultProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._mode = "up"
        self._fail_left = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closed = threading.Event()
        self.requests = 0
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        with self._lock:
            self._mode, self._fail_left = "up", 0

    def down(self) -> None:
        with self._lock:
            self._mode = "down"
        self._cut()

    def answer_503(self, count: int) -> None:
        with self._lock:
            self._mode, self._fail_left = "503", count
        self._cut()

    def _cut(self) -> None:
        """Kept-alive connections end too: the next request opens a new one and meets the
        fault."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            mode = self._mode
            if mode == "503":
                self._fail_left -= 1
                if self._fail_left <= 0:
                    self._mode = "up"
            self.requests += 1
        if mode == "down":
            client.close()
            return
        if mode == "503":
            try:
                client.recv(65536)
                client.sendall(_503)
            finally:
                client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        with self._lock:
            self._open.update((client, upstream))
        done = threading.Event()

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                done.set()
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        pump(upstream, client)
        done.wait(5)
        client.close()
        upstream.close()

    def close(self) -> None:
        self._closed.set()
        self._server.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
