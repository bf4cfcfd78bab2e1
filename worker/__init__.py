"""The worker side: the Celery app that runs the engine (img2vid.engine) as a job
service, ``celery --app worker worker``, with its one task and its housekeeping.

``app`` is made on first use, from the settings: a wrong one stops ``celery`` here, at
its edge, with one line naming every variable that is wrong.
"""


def __getattr__(name: str):
    if name in ("app", "celery"):
        from img2vid.errors import ConfigError

        try:
            from worker.celery_app import app
        except ConfigError as exc:
            raise SystemExit(exc.message) from None
        return app
    raise AttributeError(name)
