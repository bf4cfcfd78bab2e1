"""Container health check: exits 0 when this host's Celery worker answers a ping.

The ping goes through the broker, so a healthy answer also means the worker is
connected to Redis. Run as ``python -m worker.healthcheck``.
"""

from __future__ import annotations

import socket
import sys

PING_TIMEOUT_SECONDS = 5.0


def main() -> int:
    from worker import app

    # Celery names a worker celery@<hostname> unless told otherwise; in a container the
    # hostname is the container's, so this pings this container's worker only.
    node = f"celery@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=PING_TIMEOUT_SECONDS)
    if any(node in reply for reply in replies):
        return 0
    print(f"{node} did not answer a ping within {PING_TIMEOUT_SECONDS:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
