# Sourced by the other scripts: makes ./.venv with Python 3.11+ and installs a lock file
# (every package pinned, with hashes, checked by pip) into it, skipping pip when that file
# has not changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ensure_env() {
  local lock="$1"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    "$python" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$lock")"
  local digest
  digest=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    # --require-hashes: every file must match the lock's hash; --no-deps: the lock is complete.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
      --no-deps -r "$lock"
    # The helper package itself, editable, built with the locked setuptools (whose
    # advice about editable installs is not for this project's readers).
    PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
      --no-build-isolation -e .
    echo "$digest" > "$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}
