"""What both local servers need to play a slow server: notice a client that gave up.

A client that times out closes its connection; ``wait_for_hangup`` holds a request until that
happens (or ``limit_s`` passes, a safety net against a test that never times out), so a test
of a time-out never races the machine's speed: the slow answer never comes, and the server
records that the client abandoned the request instead of leaving it queued.
"""

from __future__ import annotations

import select
import socket
import threading


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
