# Shared by run.sh and test.sh: make sure uv and the locked Python environment exist.
# Sourced, not executed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v uv >/dev/null 2>&1; then
  echo "==> installing uv (the Python package manager) with pip"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi

sync_env() {
  echo "==> installing Python dependencies from uv.lock"
  uv sync --frozen "$@"
}

# The web client: Node.js 20.19+ (Vite 8's floor) with npm, from the machine.
require_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "ERROR: the web client needs Node.js 20.19 or newer with npm; install it first." >&2
    exit 1
  fi
  if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    echo "ERROR: Node.js $(node --version) is too old for the web client; 20.19+ needed." >&2
    exit 1
  fi
}

# Hash of everything the build reads: a changed file means a stale build.
web_sources_hash() {
  local paths=() p
  for p in src public index.html package.json package-lock.json vite.config.ts tsconfig.json; do
    [[ -e "web/$p" ]] && paths+=("$p")
  done
  (cd web && find "${paths[@]}" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

# npm ci, unless node_modules already holds exactly what the lock file names.
install_web_packages() {
  require_node
  local lock
  lock="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
  if [[ -f web/node_modules/.lock-hash && "$(cat web/node_modules/.lock-hash)" == "$lock" ]]; then
    return
  fi
  echo "==> installing web client packages (npm ci)"
  (cd web && npm ci --no-fund --no-audit --loglevel=error)
  echo "$lock" > web/node_modules/.lock-hash
}

# Build web/dist when it is missing or older than its sources (npm ci first when the
# installed packages don't match the lock file).
build_web() {
  require_node
  local want
  want="$(web_sources_hash)"
  if [[ -f web/dist/.sources-hash && "$(cat web/dist/.sources-hash)" == "$want" ]]; then
    echo "==> web client is up to date"
    return
  fi
  install_web_packages
  echo "==> building the web client"
  (cd web && npm run --silent build)
  echo "$want" > web/dist/.sources-hash
}
