#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs dependencies, starts PostgreSQL
# and Redis when they are not running, runs every static check, then pytest.
# Usage: ./scripts/test.sh [extra pytest arguments]
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
sync_env

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# Browser tests drive Debian's Chromium through Playwright; no browser is downloaded.
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
# LDAP tests run Debian's OpenLDAP server (started by the test fixture, not as a service).
command -v slapd >/dev/null 2>&1 || [[ -x /usr/sbin/slapd ]] || need_apt+=(slapd ldap-utils)
# Emoji (reactions, icons) render as empty boxes in screenshots without a colour font.
[[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || need_apt+=(fonts-noto-color-emoji)
if ((${#need_apt[@]})); then
  echo "==> installing Debian packages: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "==> starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 1
done
# Tests connect as postgres over TCP and create one database per test; make sure that
# works (trust auth on loopback is how these machines come; fail loudly otherwise).
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1" >/dev/null

echo "==> ruff"
uv run ruff check src tests bench packages
uv run ruff format --check src tests bench packages
echo "==> mypy --strict"
uv run mypy
echo "==> import-linter (layer contracts)"
uv run lint-imports
echo "==> bandit"
uv run bandit -q -c pyproject.toml -r src packages/redoubt-bot/src
echo "==> pip-audit"
audit_out="$(uv run pip-audit --progress-spinner off 2>&1)" || { echo "$audit_out"; exit 1; }
if grep -q "could not be audited" <<<"$audit_out" && ! grep -qv -e "could not be audited" -e "^Name" -e "^---" -e "No known vulnerabilities" <<<"$audit_out"; then
  echo "WARNING: pip-audit could not reach a vulnerability database from this machine;"
  echo "         no dependency was checked. Run it where PyPI's JSON API is reachable."
else
  echo "$audit_out" | head -5
fi

echo "==> web client: npm audit, typecheck, unit tests, build"
install_web_packages
audit_rc=0
npm_audit_out="$(cd web && npm audit --audit-level=high 2>&1)" || audit_rc=$?
if ((audit_rc != 0)); then
  if grep -q "audit endpoint returned an error" <<<"$npm_audit_out"; then
    echo "WARNING: npm audit could not reach the registry's advisory service from this"
    echo "         machine; no package was checked. Run it where registry.npmjs.org answers."
  else
    echo "$npm_audit_out"
    exit 1
  fi
else
  echo "$npm_audit_out" | tail -1
fi
(cd web && npm run --silent typecheck && npx vitest run)
build_web

echo "==> pytest"
exec uv run pytest "$@"
