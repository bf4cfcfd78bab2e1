"""gunicorn reads this from the working directory: `gunicorn 'web:create_app()'`."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# Requests are short Redis reads; a few sync workers per core keep both cores busy.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Uploads stream to disk; give a slow client time to send a large one.
timeout = int(os.environ.get("WEB_TIMEOUT", "300"))
# The app logs every request as a JSON line (web/request_log.py); gunicorn's own access
# log is off unless WEB_ACCESS_LOG names a file or "-".
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
# gunicorn's own lines (workers booting, timeouts) as JSON too.
logger_class = "web.gunicorn_logs.JsonLogger"
