"""Production settings: `DJANGO_SETTINGS_MODULE=config.production`.

`manage.py check --deploy` reports nothing with these (tests/config/test_deploy_settings.py).
"""

from .settings import *  # noqa: F403
from .settings import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
# settings.py defaults it to DEBUG as read from the environment, before DEBUG is forced off
# above: a leftover DEBUG=true must not open the guard against private addresses.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# Webhook signatures and status-callback URLs are computed over it: no default in production.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
