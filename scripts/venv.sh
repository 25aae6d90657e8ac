# Sourced by quickstart.sh and test.sh: make .venv and install requirements.txt into it,
# again only when requirements.txt has changed since the last install.
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$wanted" ]; then
  echo "==> installing requirements (first time: several minutes)"
  # Byte-compiled at install (pip's default), never skipped: with PYTHONDONTWRITEBYTECODE set,
  # as on CI's machines, nothing is cached at import and every process would compile torch and
  # Django again (measured: the default stage 454 s with --no-compile, backups test 63 s vs 15).
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$wanted" > .venv/.requirements.sha256
fi
