"""Settings from the environment (img2vid/settings/common.py says how they are read):
``Settings`` for every process, ``WebSettings`` and ``WorkerSettings`` for one side
(both with ``WebhookSettings``, webhooks.py)."""

from img2vid.settings.common import DAY, Settings
from img2vid.settings.web import WebSettings
from img2vid.settings.worker import TIME_LIMIT_GRACE, WorkerSettings

__all__ = ["DAY", "TIME_LIMIT_GRACE", "Settings", "WebSettings", "WorkerSettings"]
