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
  # --no-compile: pip would byte-compile every file of every package (torch alone is thousands)
  # up front, a third of the install; Python compiles the modules a process imports on first use.
  .venv/bin/pip install --quiet --disable-pip-version-check --no-compile -r requirements.txt
  echo "$wanted" > .venv/.requirements.sha256
fi
