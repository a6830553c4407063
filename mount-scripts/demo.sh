#!/usr/bin/env bash
# The main job, on a fresh Debian machine: install what tokfs needs, build it, serve the bundled
# sample corpus over loopback HTTP with nginx, mount it with tokfs, and run a small
# nanoGPT-style memmap training loop against the mount, printing tokens/s.
# Usage: bash mount-scripts/demo.sh   (as root, or with sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
bash mount-scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)"

TOKFS_SOURCE_DIR=$(pwd)
source tests/lib/nginx.sh
work=$(mktemp -d /tmp/tokfs-demo.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
    mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt"
    nginx_stop
    rm -rf "$work"
}
trap cleanup EXIT

nginx_start mount-scripts/sample-corpus
echo "serving the sample corpus at $NGINX_URL"
./build/tokfs "@$NGINX_URL/list.txt" "$mnt" \
    -o "cache_size=64M,cache_dir=$work/cache,shard_size=40000,val_shards=1"
echo "mounted at $mnt:"
ls -l "$mnt" "$mnt/train" "$mnt/val"
/usr/bin/python3 mount-scripts/example_train.py "$mnt" --steps 300
fusermount3 -u "$mnt"
echo "unmounted; done"
