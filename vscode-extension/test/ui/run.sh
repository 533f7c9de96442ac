#!/usr/bin/env bash
# Real VS Code UI test of the extension: code-server (VS Code 1.100 in a browser) with the built .vsix,
# driven by playwright-core in headless Debian chromium, against the real llmstep-lsp server wired to
# the fake Lean server and the tiny test model. Checks through the UI that the quick-fix menu lists
# the verified suggestions, that ghost text appears and Tab inserts it, and that automatic ghost text
# can be switched off. Installs everything it needs (apt, npm, pip) on a fresh machine; run as root.
#
#   vscode-extension/test/ui/run.sh [--update-screenshots]
#
# Screenshots go to $LLMSTEP_UI_OUT (default vscode-extension/test/ui/out/); --update-screenshots also
# copies the two README screenshots to docs/images/. Installs are cached in $LLMSTEP_UI_CACHE
# (default ~/.cache/llmstep-lsp-ui) and skipped when up to date.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
EXT=$(cd "$HERE/../.." && pwd)
REPO=$(cd "$EXT/.." && pwd)
OUT=${LLMSTEP_UI_OUT:-$HERE/out}
CACHE=${LLMSTEP_UI_CACHE:-$HOME/.cache/llmstep-lsp-ui}
UPDATE_SCREENSHOTS=0
[[ ${1:-} == --update-screenshots ]] && UPDATE_SCREENSHOTS=1
PY=$(${PYTHON:-python} -c 'import sys; print(sys.executable)')
CHROMIUM=/usr/lib/chromium/chromium # not /usr/bin/chromium: that wrapper script misparses its env
CODE_SERVER_VERSION=$(node -p "require('$HERE/package.json').devDependencies['code-server']")
RIPGREP_CACHE_VERSION=1.15.11 # @vscode/ripgrep version inside code-server 4.100.3 (see seed_ripgrep)

START=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" $((SECONDS - START)); }
timings=()
timed() { # timed NAME CMD...: run and record the duration
  local name=$1 t0=$SECONDS
  shift
  "$@"
  timings+=("$name: $((SECONDS - t0)) s")
}

system_packages() {
  local missing=()
  for pkg in chromium libkrb5-dev ripgrep g++ make; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    step "apt: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

python_packages() {
  if ! (cd "$REPO" && "$PY" -c 'import pygls, pytest_lsp, torch, transformers, tokenizers' 2>/dev/null); then
    step "pip: the project's test dependencies"
    "$PY" -m pip install --quiet torch==2.13.0
    "$PY" -m pip install --quiet -e "$REPO[model,test]"
  fi
}

build_extension() {
  step "build the .vsix"
  # npm rewrites node_modules/.package-lock.json on every install: newer than the lock = up to date.
  if [[ ! "$EXT/node_modules/.package-lock.json" -nt "$EXT/package-lock.json" ]]; then
    (cd "$EXT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  (cd "$EXT" && PYTHON="$PY" npm run --silent package >/dev/null)
  test -f "$EXT/llmstep-lsp.vsix"
}

# code-server's install needs three workarounds offline (shared/reference/editor-clients.md §4a):
# @vscode/ripgrep downloads rg from GitHub (seed its cache with Debian's rg), postinstall refuses to
# run as root without unsafe-perm, and node-pty's `npx node-gyp` needs npm_config_yes.
seed_ripgrep() {
  local dir="$TMPDIR/vscode-ripgrep-cache-$RIPGREP_CACHE_VERSION"
  mkdir -p "$dir"
  tar czf "$dir/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
}

browser_test_packages() {
  local stamp="$CACHE/node_modules/.llmstep-lock"
  if [[ -f $stamp ]] && cmp -s "$stamp" "$HERE/package-lock.json"; then
    return
  fi
  step "npm: code-server $CODE_SERVER_VERSION and playwright-core"
  rm -rf "$CACHE" && mkdir -p "$CACHE/tmp"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$CACHE/"
  TMPDIR="$CACHE/tmp" seed_ripgrep
  (cd "$CACHE" && TMPDIR="$CACHE/tmp" npm_config_unsafe_perm=true npm_config_yes=true \
    npm ci --no-audit --no-fund --loglevel=error >"$CACHE/npm-ci.log" 2>&1) ||
    { tail -40 "$CACHE/npm-ci.log"; exit 1; }
  cp "$HERE/package-lock.json" "$stamp"
}

tiny_model() {
  step "tiny model"
  MODEL=$(cd "$REPO" && HF_HUB_OFFLINE=1 "$PY" -c \
    'from tests.support.tiny_model import build_tiny_model; print(build_tiny_model())' | tail -1)
}

timed "apt packages" system_packages
timed "python packages" python_packages
timed "extension build" build_extension
timed "code-server + playwright-core" browser_test_packages
timed "tiny model" tiny_model

step "workspace"
WORK=$(mktemp -d /tmp/llmstep-ui.XXXXXX)
CS_PID=
cleanup() {
  if [[ -n $CS_PID ]]; then
    kill -TERM -- "-$CS_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$CS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$CS_PID" 2>/dev/null || true
  fi
  # Anything still running from this test's directory (named on its command line or running in it,
  # like the language server and a Lean server in its own session) is ours.
  local left proc
  left=$(pgrep -f -- "$WORK" || true)
  for proc in /proc/[0-9]*; do
    [[ $(readlink "$proc/cwd" 2>/dev/null) == "$WORK"* ]] && left+=" ${proc#/proc/}"
  done
  left=${left# }
  if [[ -n $left ]]; then
    echo "warning: processes left over from $WORK: $left" >&2
    kill -KILL $left 2>/dev/null || true
  fi
  [[ ${KEEP_WORK:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK"/{home,tmp,data/User,exts,state,xdg} "$OUT"
cp -r "$REPO/lean" "$WORK/ws"
rm -rf "$WORK/ws/.lake"
mkdir "$WORK/ws/.vscode"
# No llmstep.server.pythonPath/command: the extension sets up its own environment from the wheel in
# the .vsix, as on a user's first start. PyTorch's CPU index is not reachable offline, so torch comes
# from pip's own sources (torchIndexUrl ""), held to the CPU build this machine has (PIP_CONSTRAINT
# below, as a site's pip configuration would); the rest of the model extra comes from PyPI.
cat >"$WORK/ws/.vscode/settings.json" <<EOF
{
  "llmstep.server.env": { "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1" },
  "llmstep.server.torchIndexUrl": "",
  "llmstep.leanCommand": ["$PY", "$REPO/tests/fake_lean/server.py", "--script",
                          "$REPO/tests/fixtures/examples_script.json", "--state-dir", "$WORK/state"],
  "llmstep.model": "$MODEL",
  "llmstep.logLevel": "DEBUG"
}
EOF
cat >"$WORK/data/User/settings.json" <<'EOF'
{
  "telemetry.telemetryLevel": "off", "files.autoSave": "off", "files.hotExit": "off", "update.mode": "none",
  "extensions.autoCheckUpdates": false, "extensions.autoUpdate": false, "workbench.startupEditor": "none",
  "workbench.enableExperiments": false, "workbench.tips.enabled": false, "security.workspace.trust.enabled": false,
  "editor.inlineSuggest.enabled": true, "editor.minimap.enabled": false, "workbench.colorTheme": "Default Light Modern",
  "editor.fontSize": 15, "window.commandCenter": false, "workbench.layoutControl.enabled": false,
  "editor.unicodeHighlight.ambiguousCharacters": false
}
EOF
(cd "$WORK/ws" && find . -type f -exec sha256sum {} + | sort >"$WORK/ws.sha256")
"$PY" -m venv --without-pip "$WORK/python-without-llmstep" # for the "not installed" message

echo "torch==$("$PY" -c 'import torch; print(torch.__version__)')" >"$WORK/pip-constraints.txt"
export PIP_CONSTRAINT=$WORK/pip-constraints.txt PIP_CACHE_DIR=$CACHE/pip
export HOME=$WORK/home TMPDIR=$WORK/tmp XDG_CONFIG_HOME=$WORK/xdg/config XDG_DATA_HOME=$WORK/xdg/data \
  XDG_CACHE_HOME=$WORK/xdg/cache XDG_STATE_HOME=$WORK/xdg/state
CODE_SERVER=("$CACHE/node_modules/.bin/code-server" --user-data-dir "$WORK/data" --extensions-dir "$WORK/exts")
printf 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n' >"$WORK/config.yaml"

step "install the .vsix into code-server"
t0=$SECONDS
"${CODE_SERVER[@]}" --config "$WORK/config.yaml" --install-extension "$EXT/llmstep-lsp.vsix" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log"; exit 1; }
grep -q "successfully installed" "$WORK/install.log" || { cat "$WORK/install.log"; exit 1; }
timings+=("vsix install: $((SECONDS - t0)) s")

step "start code-server"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "${CODE_SERVER[@]}" --config "$WORK/config.yaml" --bind-addr "127.0.0.1:$PORT" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  "$WORK/ws" >"$WORK/code-server.log" 2>&1 &
CS_PID=$!
for _ in $(seq 300); do
  "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/healthz', timeout=2)" 2>/dev/null && break
  kill -0 "$CS_PID" 2>/dev/null || { cat "$WORK/code-server.log"; exit 1; }
  sleep 0.1
done

step "drive VS Code"
t0=$SECONDS
status=0
CS_URL="http://127.0.0.1:$PORT" WORKSPACE="$WORK/ws" WORKSPACE_SETTINGS="$WORK/ws/.vscode/settings.json" \
  OUT_DIR="$OUT" CHROMIUM="$CHROMIUM" NODE_MODULES="$CACHE/node_modules" \
  PYTHON_WITHOUT_LLMSTEP="$WORK/python-without-llmstep/bin/python" VSCODE_LOGS="$WORK/data/logs" \
  node "$HERE/driver.mjs" || status=$?
timings+=("UI test: $((SECONDS - t0)) s")

# The sidecar must never write into the user's project (the .vscode/settings.json edit is the test's own).
(cd "$WORK/ws" && find . -type f -not -path './.vscode/*' -exec sha256sum {} + | sort) >"$WORK/ws-after.sha256"
if ! diff <(grep -v '\./\.vscode/' "$WORK/ws.sha256") "$WORK/ws-after.sha256"; then
  echo "FAIL: files in the workspace changed on disk" >&2
  status=1
fi
if [[ -s $WORK/state/violations.log ]]; then
  echo "FAIL: Lean protocol violations:" >&2
  cat "$WORK/state/violations.log" >&2
  status=1
fi
if ((status != 0)); then
  echo "--- code-server log (tail)" >&2
  tail -20 "$WORK/code-server.log" >&2
  echo "--- the extension's environment" >&2
  find "$WORK/data/User/globalStorage" -maxdepth 2 >&2 || true
  echo "--- the extension's output channel, with the LSP trace (tail)" >&2
  find "$WORK/data/logs" -name '*llmstep*.log' -exec tail -120 {} + >&2 || true
fi

if ((status == 0 && UPDATE_SCREENSHOTS)); then
  mkdir -p "$REPO/docs/images"
  cp "$OUT/vscode-quick-fix.png" "$OUT/vscode-ghost-text.png" "$REPO/docs/images/"
  echo "screenshots copied to docs/images/"
fi
printf '\n== timings\n'
printf '%s\n' "${timings[@]}" "total: $((SECONDS - START)) s"
exit $status
