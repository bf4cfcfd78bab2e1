"""The web side: the Flask app factory, run as ``gunicorn 'web:create_app()'``.

It never imports OpenCV or the worker's code: jobs reach workers by task name.
"""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from img2vid import logs
from img2vid.settings import WebSettings
from web.api import api
from web.auth import install_auth
from web.bodies import BodyErrors, UploadRequest
from web.errors import register_error_handlers
from web.health import health
from web.pages import pages
from web.ratelimit import init_rate_limits
from web.request_log import init_app as log_requests
from web.secret import secret_key
from web.security import install_security
from web.services import init_services
from web.signin import signin
from web.strictjson import StrictJSONProvider


def create_app(settings: WebSettings | None = None) -> Flask:
    """The app; ConfigError naming every setting that is wrong (gunicorn's master checks
    them first, web/gunicorn_conf.py, so that a bad one stops it before it binds)."""
    settings = settings or WebSettings.from_env()
    logs.setup("web", settings.log_level)
    for line in settings.renamed_variables():
        logs.event(logging.getLogger("web"), "setting_renamed", line, level=logging.WARNING)
    app = Flask(__name__)
    # Werkzeug refuses a larger body with 413 before any of it is stored.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json = StrictJSONProvider(app)
    app.request_class = UploadRequest  # form limits that say which one was hit
    app.wsgi_app = BodyErrors(app.wsgi_app)  # type: ignore[method-assign]
    svc = init_services(app, settings)
    app.secret_key = secret_key(settings)
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True)
    log_requests(app)
    register_error_handlers(app)
    if settings.trusted_proxies:
        # Only behind proxies the operator named: anyone can send X-Forwarded-For. The
        # host and scheme too, so that a page's Origin matches the host it was served from.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    # The limiter's check is registered first, so requests refused for a bad or missing
    # token still count against their address.
    init_rate_limits(app, settings)
    install_auth(app, settings.api_tokens)
    install_security(app, svc.storage.download_origin())
    app.register_blueprint(health)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    app.register_blueprint(signin)
    return app
