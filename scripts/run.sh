#!/usr/bin/env bash
# Install what Redoubt needs and run it on the embedded default (SQLite, one process).
# Usage: ./scripts/run.sh [--host H] [--port P] [--data-dir D]
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
sync_env --no-dev
build_web

data_dir="${REDOUBT_DATA_DIR:-redoubt-data}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [[ "${args[$i]}" == "--data-dir" ]]; then data_dir="${args[$((i + 1))]}"; fi
done

uv run --no-dev redoubt db upgrade --data-dir "$data_dir"
cat <<TXT

Create the first admin in another terminal (the password is read from standard input):
    uv run --no-dev redoubt admin create-user admin --admin --data-dir $data_dir

TXT
exec uv run --no-dev redoubt serve "$@"
