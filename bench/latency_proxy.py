"""A loopback TCP proxy that delays each chunk sent from client to server by ``delay_ms``:
with HTTP/1.1 keep-alive (boto3) that is one delay per request, so a local server answers
as if across a network."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class LatencyProxy:
    """``LatencyProxy(target_port, delay_ms).start()`` returns the port to connect to."""

    def __init__(self, target_port: int, delay_ms: float, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.delay = delay_ms / 1000
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.closed = threading.Event()

    def start(self) -> int:
        threading.Thread(target=self._accept, daemon=True).start()
        return int(self.listener.getsockname()[1])

    def stop(self) -> None:
        self.closed.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for src, dst, delay in ((client, server, self.delay), (server, client, 0.0)):
                threading.Thread(target=self._pipe, args=(src, dst, delay), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while data := src.recv(65536):
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
