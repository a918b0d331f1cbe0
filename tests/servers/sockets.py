"""What both local servers need to play a slow server: notice a client that gave up.

A client that times out closes its connection; ``wait_for_hangup`` holds a request until that
happens (or ``limit_s`` passes, a safety net against a test that never times out), so a test
of a time-out never races the machine's speed: the slow answer never comes, and the server
records that the client abandoned the request instead of leaving it queued.
"""

from __future__ import annotations

import select
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from socketserver import BaseRequestHandler


def hung_up(connection: socket.socket) -> bool:
    """True when the client closed its end (the socket reads as end-of-file)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def wait_for_hangup(connection: socket.socket, *, limit_s: float, stop: threading.Event) -> bool:
    """Block until the client hangs up (True), or ``limit_s`` passes or ``stop`` is set
    (False)."""
    waited = 0.0
    while waited < limit_s and not stop.is_set():
        if hung_up(connection):
            return True
        stop.wait(0.01)
        waited += 0.01
    return False


class QuietServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that keeps a handler's exception instead of printing it.

    ``socketserver`` prints the traceback of any exception in a handler thread to stderr. A
    client that gives up (a time-out, a closed pipe) makes the handler's write fail after the
    test that caused it may have ended, so the traceback landed in the next test's captured
    stderr and failed a test asserting that its own output held none. The exception is kept in
    ``errors`` (address and exception) for a test that wants to see it.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseRequestHandler]) -> None:
        super().__init__(address, handler)
        self.errors: list[tuple[object, BaseException]] = []

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exception()
        if error is not None:
            self.errors.append((client_address, error))
