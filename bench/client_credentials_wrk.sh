#!/bin/bash
# The client-credentials grant under wrk with the per-address budget `oauth.address` off (bench/run_http.py
# keeps it on, so a single-address run is mostly 429s after 1200 grants a minute): its own database
# bench_oauth_wrk (dropped after), gunicorn with 2 workers on 127.0.0.1:8019, DEBUG off, no Redis, the
# client's own budget counted; prints req/s, latency and CPU per grant of the gunicorn processes and of
# the database backends. Run it under `flock /tmp/bench.lock`.
set -e
WORK=$(mktemp -d)
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=config.settings DJANGO_DEBUG=0 DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_ALLOWED_HOSTS=127.0.0.1 \
  DJANGO_SECRET_KEY=oauth-wrk-secret-key-0123456789-0123456789-0123456789 \
  IDENTITY_KEY_ENCRYPTION_KEY=$(python3 -c 'import base64;print(base64.urlsafe_b64encode(b"k"*32).decode())') \
  DJANGO_ENV_FILE=/nonexistent DJANGO_LOG_LEVEL=WARNING IDENTITY_THROTTLE_RATES=oauth.address=off \
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_oauth_wrk
unset REDIS_URL
psql -h 127.0.0.1 -U postgres -qAt -c "DROP DATABASE IF EXISTS bench_oauth_wrk WITH (FORCE)" -c "CREATE DATABASE bench_oauth_wrk" postgres
.venv/bin/python manage.py migrate -v0
CREDS=$(.venv/bin/python - <<'PY'
import django; django.setup()
from identity.services.applications import application_create
from identity.services.oauth_clients import oauth_client_configure
from identity.services.tenants import tenant_create
t = tenant_create(name="Wrk", issuer="http://127.0.0.1:8019")
a = application_create(tenant=t, name="Wrk client")
c = oauth_client_configure(application=a, scopes=["read"], token_requests_per_minute=10_000_000)
print(f"grant_type=client_credentials&client_id={a.pk}&client_secret={c.client_secret}")
PY
)
cat > $WORK/post.lua <<LUA
wrk.method = "POST"
wrk.body = "$CREDS"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
.venv/bin/gunicorn --config config/gunicorn.conf.py --bind 127.0.0.1:8019 --workers 2 --access-logfile /dev/null config.wsgi:application > $WORK/gunicorn.log 2>&1 &
GPID=$!
sleep 4
curl -s -X POST http://127.0.0.1:8019/connect/token -H 'Content-Type: application/x-www-form-urlencoded' -d "$CREDS" | cut -c1-80; echo
wrk -t4 -c4 -d1s -s $WORK/post.lua http://127.0.0.1:8019/connect/token > /dev/null
cpu() { local t=0; for p in $GPID $(pgrep -P $GPID); do set -- $(cut -d' ' -f14,15 /proc/$p/stat); t=$((t+$1+$2)); done; echo $t; }
pgcpu() { local t=0; for p in $(pgrep -u postgres -f "postgres: .*bench_oauth_wrk"); do set -- $(cut -d' ' -f14,15 /proc/$p/stat); t=$((t+$1+$2)); done; echo $t; }
c0=$(cpu); p0=$(pgcpu); l0=$(cut -d' ' -f1 /proc/loadavg)
wrk -t4 -c4 -d8s --latency -s $WORK/post.lua http://127.0.0.1:8019/connect/token > $WORK/wrk.txt
c1=$(cpu); p1=$(pgcpu)
N=$(grep -o "[0-9]* requests in" $WORK/wrk.txt | cut -d' ' -f1)
grep -E "Requests/sec|requests in|Non-2xx|50%|99%" $WORK/wrk.txt
echo "app CPU/grant: $(python3 -c "print(round(($c1-$c0)*10/$N,3))") ms; pg CPU/grant: $(python3 -c "print(round(($p1-$p0)*10/$N,3))") ms; load before $l0; load now $(cut -d' ' -f1-3 /proc/loadavg)"
kill $GPID; sleep 1
psql -h 127.0.0.1 -U postgres -qAt -c "DROP DATABASE IF EXISTS bench_oauth_wrk WITH (FORCE)" postgres
