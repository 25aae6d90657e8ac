# Sourced by quickstart.sh and test.sh: make .venv and install requirements.txt into it,
# again only when requirements.txt has changed since the last install.
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$wanted" ]; then
  echo "==> installing requirements (first time: a minute or two)"
  # uv installs the same pins as pip (the same 178 packages, compared) in a third of the time
  # (59 s against pip's 123-190 s on 2 cores), byte-compiling on every core. Compiled they must
  # be: with PYTHONDONTWRITEBYTECODE set, as on CI's machines, nothing is cached at import and
  # every process would compile torch and Django again. uv reads pip's configuration (the local
  # wheels, the mirrors, the constraints) through these variables; without uv, pip does it all.
  if .venv/bin/pip install --quiet --disable-pip-version-check uv==0.13.9; then
    setting() { .venv/bin/pip config get "global.$1" 2>/dev/null || true; }
    UV_FIND_LINKS=${PIP_FIND_LINKS:-$(setting find-links)}
    UV_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL:-$(setting extra-index-url)}
    UV_CONSTRAINT=${PIP_CONSTRAINT:-$(setting constraint)}
    for name in UV_FIND_LINKS UV_EXTRA_INDEX_URL UV_CONSTRAINT; do
      if [ -n "${!name}" ]; then export "${name?}"; else unset "$name"; fi
    done
    # pip's rule, which these pins were resolved under: every index is trusted alike.
    UV_INDEX_STRATEGY=unsafe-best-match .venv/bin/uv pip install --quiet \
      --python .venv/bin/python --compile-bytecode -r requirements.txt
  else
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  fi
  echo "$wanted" > .venv/.requirements.sha256
fi
