# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test install lint typecheck migrations-check deploy-check audit-deps ci bench bench-nodes bench-report

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

# Development secrets, generated once into a git-ignored file so restarts keep the same keys.
.env:
	$(PYTHON) -c "import base64, secrets; \
	print('DJANGO_DEBUG=1'); \
	print('DJANGO_SECRET_KEY=' + secrets.token_urlsafe(50)); \
	print('IDENTITY_KEY_ENCRYPTION_KEY=' + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > $@
	chmod 600 $@

run: install .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --base-url http://$(HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production entry point: debug off even if a development .env says otherwise (only the real
# environment can turn it on), secrets from the environment or DJANGO_ENV_FILE, gunicorn as
# config/gunicorn.conf.py sets it up (README: "Serving in production").
SERVE_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-0}
serve: install
	$(SERVE_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(SERVE_ENV) $(BIN)/python manage.py migrate --noinput
	$(SERVE_ENV) $(BIN)/gunicorn --config config/gunicorn.conf.py --bind $(HOST):$(PORT) config.wsgi:application

# Two pytest-xdist workers (CI has 2 cores); a module's tests stay on one worker (--dist loadfile).
TEST_WORKERS ?= 2
test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

migrations-check: install
	DJANGO_SETTINGS_MODULE=config.settings_test $(BIN)/python manage.py makemigrations --check --dry-run

deploy-check: install
	DJANGO_SETTINGS_MODULE=config.settings DJANGO_DEBUG=0 DJANGO_ALLOWED_HOSTS=identity.example.com \
	DJANGO_SECRET_KEY=$$($(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))") \
	IDENTITY_KEY_ENCRYPTION_KEY=$$($(BIN)/python -c "import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())") \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

# Known vulnerabilities in the installed environment (pip-audit; .ci/audit_deps.py says how):
# fails on any, lists by name whatever could not be audited.
audit-deps: install
	$(BIN)/python .ci/audit_deps.py

ci: lint typecheck migrations-check deploy-check audit-deps test

# One benchmark command (bench/README.md): the service, the simplejwt peer and this machine's ceilings
# under gunicorn on 127.0.0.1, driven by wrk; about 7 minutes with the defaults. Writes
# bench/results/latest.{json,md,png} and the README's "Performance" block. Needs PostgreSQL on
# 127.0.0.1:5432 and wrk. `make bench BENCH_DURATION=3` (or BENCH_ARGS=--quick) for a short run.
BENCH_WORKERS ?= 2
BENCH_DURATION ?= 8
BENCH_ARGS ?=
bench: $(VENV)/.bench-installed
	flock /tmp/bench.lock $(BIN)/python bench/run_http.py --workers $(BENCH_WORKERS) --duration $(BENCH_DURATION) $(BENCH_ARGS)
	$(BIN)/python bench/report.py

# Two independent nodes (two gunicorn masters, one PostgreSQL, one Redis): load split over them,
# changes through one honoured by the other, one-time refresh across both (docs/scaling.md).
bench-nodes: $(VENV)/.bench-installed
	flock /tmp/bench.lock $(BIN)/python bench/two_nodes.py

bench-report: $(VENV)/.bench-installed
	$(BIN)/python bench/report.py
