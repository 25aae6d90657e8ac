#!/usr/bin/env bash
# Set up and run Trading AI on its embedded defaults: SQLite, in-process tasks and scheduler,
# no external servers. Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
export TRADINGAI_VAR_DIR=${TRADINGAI_VAR_DIR:-$PWD/var}
manage() { .venv/bin/python manage.py "$@"; }

echo "==> database"
manage migrate --noinput -v0
manage collectstatic --noinput -v0
echo "==> market data"
manage load_market_data
manage check_data || echo "(check_data found problems; see above)"
echo "==> models, track record and signals (first run only: the quick universe model, 60 days simulated, the last 2 days replayed)"
manage first_run

password_file="$TRADINGAI_VAR_DIR/admin-password"
if [ ! -s "$password_file" ]; then
  (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(12))" > "$password_file")
  DJANGO_SUPERUSER_PASSWORD=$(cat "$password_file") DJANGO_SUPERUSER_USERNAME=admin \
    DJANGO_SUPERUSER_EMAIL=admin@localhost manage createsuperuser --noinput >/dev/null
fi

host=${HOST:-127.0.0.1}
port=${PORT:-8000}
cat <<MSG
==> Trading AI on http://$host:$port/
    Dashboard:   http://$host:$port/  (user admin, password in $password_file)
    API health:  http://$host:$port/api/system/health   docs: http://$host:$port/api/docs
    Admin:       http://$host:$port/admin/
MSG
exec .venv/bin/python -m daphne -b "$host" -p "$port" tradingai.asgi:application
