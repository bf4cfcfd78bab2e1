"""The worker side: the encoding engine (``worker.engine``, no Celery in it) and the
Celery app that runs it as a job service (``celery --app worker worker``).

``app`` is made on first use, so importing ``worker.engine`` for the CLI never loads
Celery.
"""


def __getattr__(name: str):
    if name in ("app", "celery"):
        from .celery_app import app

        return app
    raise AttributeError(name)
