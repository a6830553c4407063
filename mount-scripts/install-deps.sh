#!/usr/bin/env bash
# Install everything tokfs needs to build and test, from Debian's packages only.
# Idempotent and non-interactive; run as root on Debian bookworm. Skips apt when all is present.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3
  libcurl4-openssl-dev libzstd-dev zlib1g-dev
  libsnappy-dev liblz4-dev
  libpcre2-dev libjansson-dev
  clang libclang-rt-14-dev
  nginx-light
  python3 python3-numpy
  python3-sentencepiece  # the SentencePiece reference of the tokenizer tests (tests/tokref/spm_ref.py)
  zstd  # the zstd CLI writes .zst test fixtures (tests/lib/corpus.py --compressed)
  slurmctld slurmd slurm-client munge  # a one-node Slurm cluster for tokfs build (test_slurm.sh)
  ca-certificates
)
# The tokenizer tests use the npm packages tiktoken and tokenizers as references: they need node
# and npm. The machine image has Node 20; fall back to Debian's nodejs/npm when it does not.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx-light's postinst may start a system nginx on port 80; tests start their own on a free port
# and never need it, so stop it only if systemd/service started it (not ours to kill by name).
[ -e /dev/fuse ] || { echo "install-deps: /dev/fuse is missing: load the fuse module (modprobe fuse)" >&2; exit 1; }
echo "install-deps: all dependencies present"
