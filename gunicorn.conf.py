"""gunicorn reads this from the working directory: `gunicorn 'web:create_app()'`.
The settings live in web/gunicorn_conf.py, which `img2vid up` and the tests name with
`--config python:web.gunicorn_conf`, so every way of starting the web app checks alike."""

from web.gunicorn_conf import *  # noqa: F403
