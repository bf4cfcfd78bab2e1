"""The web side: the Flask app factory, run as ``gunicorn 'web:create_app()'``.

It never imports OpenCV or the worker's code: jobs reach workers by task name.
"""

from __future__ import annotations

from flask import Flask

from img2vid import logs
from img2vid.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from .api import api
    from .auth import install_auth
    from .errors import register_error_handlers
    from .health import health
    from .pages import pages
    from .ratelimit import install_rate_limits
    from .request_log import init_app as log_requests
    from .secret import secret_key
    from .services import Services
    from .signin import signin

    settings = settings or Settings.from_env()
    logs.setup("web", settings.log_level)
    app = Flask(__name__)
    # Werkzeug refuses a larger body with 413 before any of it is stored.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    app.extensions["img2vid"] = Services.create(settings)
    app.secret_key = secret_key(settings)
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True)
    log_requests(app)
    register_error_handlers(app)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only behind proxies the operator named: anyone can send X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
    # The limiter's check is registered first, so requests refused for a bad or missing
    # token still count against their address.
    install_rate_limits(app, settings)
    install_auth(app, settings.api_tokens)
    app.register_blueprint(health)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(pages)
    app.register_blueprint(signin)
    return app
