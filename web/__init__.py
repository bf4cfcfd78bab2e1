"""The web side: the Flask app factory, run as ``gunicorn 'web:create_app()'``.

It never imports OpenCV or the worker's code: jobs reach workers by task name.
"""

from __future__ import annotations

import sys

from flask import Flask

from img2vid import logs
from img2vid.errors import ConfigError
from img2vid.settings import Settings

# gunicorn stops (rather than booting the worker again) when one exits with this.
_GUNICORN_APP_LOAD_ERROR = 4


def create_app(settings: Settings | None = None) -> Flask:
    from .api import api
    from .auth import install_auth
    from .bodies import BodyErrors, UploadRequest
    from .config import load_settings
    from .errors import register_error_handlers
    from .health import health
    from .pages import pages
    from .ratelimit import install_rate_limits
    from .request_log import init_app as log_requests
    from .secret import secret_key
    from .security import install_security
    from .services import Services
    from .signin import signin
    from .strictjson import StrictJSONProvider

    try:
        settings = settings or load_settings()
    except ConfigError as exc:
        # gunicorn's master checks first (web/gunicorn_conf.py); this is for a server
        # started without that file.
        print(f"img2vid web: {exc.message}", file=sys.stderr)
        raise SystemExit(_GUNICORN_APP_LOAD_ERROR) from None
    logs.setup("web", settings.log_level)
    app = Flask(__name__)
    # Werkzeug refuses a larger body with 413 before any of it is stored.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json = StrictJSONProvider(app)
    app.request_class = UploadRequest  # form limits that say which one was hit
    app.wsgi_app = BodyErrors(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["img2vid"] = Services.create(settings)
    app.secret_key = secret_key(settings)
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True)
    log_requests(app)
    register_error_handlers(app)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only behind proxies the operator named: anyone can send X-Forwarded-For. The
        # host and scheme too, so that a page's Origin matches the host it was served from.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    # The limiter's check is registered first, so requests refused for a bad or missing
    # token still count against their address.
    install_rate_limits(app, settings)
    install_auth(app, settings.api_tokens)
    install_security(app)
    app.register_blueprint(health)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(pages)
    app.register_blueprint(signin)
    return app
