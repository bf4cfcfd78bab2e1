"""gunicorn's own log lines (the arbiter's "Booting worker", "WORKER TIMEOUT", ...) as the
same JSON lines as the app's: ``--logger-class web.gunicorn_logs.JsonLogger``.

A logger class rather than ``logconfig_dict``: any logconfig turns gunicorn's access log
on, and the app already logs each request itself (web/request_log.py).
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from img2vid.logs import JsonFormatter


class JsonLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = JsonFormatter("web")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setFormatter(formatter)
