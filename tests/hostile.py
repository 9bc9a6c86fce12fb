"""What a hostile or careless caller sends, for the security tests and bench/load: oversized
bodies over a raw socket (declared or chunked, sent while reading the answer, as curl does),
and a sampler of a process's memory while that happens."""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass

import psutil

MIB = 1024 * 1024
PIECE = 64 * 1024


@dataclass
class Answer:
    status: int | None  # None: the connection ended with no answer
    sent: int  # body bytes the server took before answering or closing
    head: bytes  # status line and headers, as received


def _status(head: bytes) -> int | None:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def send_body(
    port: int,
    path: str,
    size: int,
    chunked: bool = False,
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    timeout: float = 60,
    method: str = "POST",
) -> Answer:
    """Send `size` bytes of 'x' to `path`, declared in Content-Length or chunked, stopping as
    soon as the server answers; the answer's status (never the whole body in memory)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: text/plain"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    piece = b"x" * PIECE
    frame = f"{PIECE:x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    received = b""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while sent < size and time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(frame)
                sent += PIECE
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while b"\r\n\r\n" not in received and time.monotonic() < deadline:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except (ConnectionResetError, TimeoutError):
            pass
    head = received.split(b"\r\n\r\n", 1)[0]
    return Answer(_status(head), sent, head)


class PeakMemory:
    """The largest resident set size a process reached while sampled (in a thread)."""

    def __init__(self, pid: int, interval_s: float = 0.01):
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.start_rss = self.process.memory_info().rss
        self.peak_rss = self.start_rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak_rss - self.start_rss) / MIB

    @property
    def peak_mib(self) -> float:
        return self.peak_rss / MIB
