"""Many Server-Sent Event followers in one process (asyncio), for make bench-events.

``python -m bench.sse_clients URL N``: opens N streams of URL (each retried on a 503
until it is open), prints ``open <N> refused <R>`` once every one has its first line,
then records when each event arrives. On a line ``stop`` on stdin it prints one JSON
object, {event id: [arrival times (time.time())]}, and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit


async def follow(host: str, port: int, path: str, opened: asyncio.Event, seen: dict, state: dict) -> None:
    while True:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        status = (await reader.readline()).split()[1]
        if status == b"200":
            break
        state["refused"] += 1
        writer.close()
        await asyncio.sleep(0.2)
    state["open"] += 1
    if state["open"] == state["want"]:
        opened.set()
    while line := await reader.readline():
        # Chunked framing lines (sizes, blanks) interleave with the events; only ids matter.
        if line.startswith(b"id: "):
            seen[line[4:].strip().decode()].append(time.time())


async def main(url: str, n: int) -> None:
    parts = urlsplit(url)
    seen: dict[str, list[float]] = defaultdict(list)
    state = {"open": 0, "refused": 0, "want": n}
    opened = asyncio.Event()
    tasks = [asyncio.create_task(follow(parts.hostname, parts.port, parts.path, opened, seen, state)) for _ in range(n)]
    while not opened.is_set():  # say how it goes while the streams open
        try:
            await asyncio.wait_for(opened.wait(), 10)
        except TimeoutError:
            print(f"sse_clients: {state['open']} of {n} open, {state['refused']} refused so far", file=sys.stderr)
    print(f"open {state['open']} refused {state['refused']}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(json.dumps(seen), flush=True)
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
