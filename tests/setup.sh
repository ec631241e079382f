#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and Python 3, then exits 0; the one place that
# knows it, used by the README's test command and by .ci/run:
#   - Debian's `prometheus-pushgateway` and `redis-server` (the Pushgateway and shared rate
#     budget tests start them), through apt-get, when they are not on PATH yet (as root, or
#     through sudo);
#   - the pinned Python packages of tests/python/requirements.txt (the Python, Polars and DuckDB
#     readers, moto's S3 server, and Dagster for the deploy/dagster project), through pip.
# Running it again installs nothing new.
#
#   tests/setup.sh && cargo test --workspace --locked --features failpoints
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

# Installs Debian package $2 unless command $1 is on PATH.
apt_install() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "tests/setup.sh: installing $2 (apt-get)" >&2
        if ! command -v apt-get >/dev/null 2>&1 \
            || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
            || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                "$2" >/dev/null; then
            echo "tests/setup.sh: could not install $2; install it as root" \
                "(apt-get install $2) or put $1 on PATH" >&2
            exit 1
        fi
    fi
}

apt_install prometheus-pushgateway prometheus-pushgateway
apt_install redis-server redis-server

PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    -r tests/python/requirements.txt
