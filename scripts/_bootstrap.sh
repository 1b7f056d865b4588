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
