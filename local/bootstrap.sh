#!/usr/bin/env bash
# Creates .venv with Python 3.12 (the Lambda runtime) and installs the layer's runtime pins plus
# the dev tools from pyproject.toml. Idempotent: a no-op when nothing changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.installed"

find_python312() {
  local candidate
  for candidate in "${PYTHON312:-}" python3.12; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -V | tail -n 1 || true)
    if [ -n "$version" ] && [ -x "$(pyenv root)/versions/$version/bin/python3.12" ]; then
      echo "$(pyenv root)/versions/$version/bin/python3.12"; return 0
    fi
  fi
  return 1
}

if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ] && [ "$STAMP" -nt local/bootstrap.sh ] && [ "$STAMP" -nt layers/calbridge/requirements.txt ] \
  && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
  exit 0
fi

if ! PY312=$(find_python312); then
  echo "error: Python 3.12 is required (the Lambda runtime is python3.12), but none was found on PATH" >&2
  echo "       or in pyenv. Install it, e.g. 'pyenv install 3.12', or set PYTHON312=/path/to/python3.12." >&2
  exit 1
fi

if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
  echo "==> creating $VENV with $PY312"
  rm -rf "$VENV"
  "$PY312" -m venv "$VENV"
fi

echo "==> installing dependencies into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
dev_requirements=$("$VENV/bin/python" -c '
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]))')
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r layers/calbridge/requirements.txt -r /dev/stdin <<<"$dev_requirements" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# Like an editable install: the layer's package and the repo (for local/) importable in the venv.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n%s\n' "$PWD/layers/calbridge" "$PWD" > "$site/calbridge-dev.pth"
touch "$STAMP"
echo "==> $VENV ready ($("$VENV/bin/python" --version))"
