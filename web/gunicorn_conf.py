"""gunicorn's settings for the web app (`gunicorn --config python:web.gunicorn_conf
'web:create_app()'`; the gunicorn.conf.py beside the code names this module)."""

import multiprocessing
import os
import sys


def _whole(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.strip().isdigit() or int(raw) < 1:
        sys.exit(f"{name} must be a whole number above 0, got {raw!r}")
    return int(raw)


bind = f"{os.environ.get('HOST', '0.0.0.0')}:{_whole('PORT', 8000)}"
# Requests are short Redis reads; a few workers per core keep both cores busy.
workers = _whole("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
# Threads, not sync workers: an open event stream (SSE) holds its thread for as long as
# it is open, so a sync worker would serve nothing else. Each process keeps threads
# beyond the streams it accepts (IMG2VID_MAX_EVENT_STREAMS, web/events.py) for the API.
# Not gevent: redis-py 8's readiness check (poll with no timeout) stalls a greenlet
# until the stream next to it ends.
worker_class = "gthread"
threads = _whole("WEB_THREADS", _whole("IMG2VID_MAX_EVENT_STREAMS", 200) + 16)
# Uploads stream to disk; give a slow client time to send a large one.
timeout = _whole("WEB_TIMEOUT", 300)
# The app logs every request as a JSON line (web/request_log.py); gunicorn's own access
# log is off unless WEB_ACCESS_LOG names a file or "-".
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
# gunicorn's own lines (workers booting, timeouts) as JSON too.
logger_class = "web.gunicorn_logs.JsonLogger"


def on_starting(server):
    """Check the settings in the master, before the port is bound or a worker boots: a
    worker that fails to boot is started again and again, so a bad setting would
    otherwise loop forever (60 boots in 25 s) while the port hangs."""
    from img2vid.errors import ConfigError
    from img2vid.settings import WebSettings

    try:
        WebSettings.from_env()
    except ConfigError as exc:
        server.log.error("%s", exc.message)
        sys.exit(1)


def post_worker_init(worker):
    """On SIGTERM, end the worker's event streams first, so that it stops at once."""
    import signal

    from web.events import end_all_streams

    stop = worker.handle_exit

    def handle_exit(sig, frame):
        end_all_streams()
        stop(sig, frame)

    signal.signal(signal.SIGTERM, handle_exit)
