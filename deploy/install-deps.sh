#!/usr/bin/env bash
# Installs every build and test dependency of cmkwatch from Debian 12
# packages. Idempotent: does nothing when all are present; otherwise runs
# `apt-get update` once and installs only what is missing. Nothing is
# downloaded from anywhere but the configured Debian archive.
#
#   install-deps.sh           everything: build, tests, benchmarks
#   install-deps.sh --build   only what a release build and its package need
#                             (deploy/Containerfile's build stage)
set -euo pipefail

BUILD_PACKAGES=(
  g++ cmake make pkg-config
  libsimdjson-dev nlohmann-json3-dev zlib1g-dev libxxhash-dev libssl-dev libsqlite3-dev libzstd-dev libzmq3-dev
  libyaml-dev libcurl4-openssl-dev
  librdkafka-dev  # the collector's Event Hubs / Kafka source
  # cpack -G DEB: dpkg-shlibdeps computes the package's Depends
  dpkg-dev
)

PACKAGES=(
  # toolchains: gcc 12 builds and tests; clang 14 builds too and runs
  # libFuzzer with ASan + UBSan (its runtime is in libclang-rt-14-dev)
  g++ cmake make pkg-config clang libclang-rt-14-dev
  # libraries
  libsimdjson-dev      # hot-path JSON (on-demand API)
  nlohmann-json3-dev   # configuration, reports, output
  zlib1g-dev           # gzip'd exports
  libxxhash-dev        # XXH3-128 event ids (header-only use)
  libssl-dev           # SHA-256 (timeline hash chain), HMAC, TLS (the Event Grid endpoint)
  libsqlite3-dev       # timeline, collector spool
  libzstd-dev          # timeline: events compressed against a trained dictionary
  libzmq3-dev          # collector → analyzer transport
  libyaml-dev          # configuration files (event parser, no recursion)
  libcurl4-openssl-dev # alert sinks: HTTPS webhooks and SMTP, TLS via OpenSSL;
                       # the Kafka source's OAuth client-credentials tokens
  librdkafka-dev       # Event Hubs / Kafka source (consumer groups); its mock
                       # cluster (rdkafka_mock.h) is the tests' Kafka endpoint
  # tests and benchmarks
  libgtest-dev libgmock-dev
  # used by tests to make gzip fixtures on the fly
  gzip
  # the alert tests' real receivers: an SMTP server (STARTTLS, AUTH) for
  # /usr/bin/python3, and the openssl CLI that makes their test certificates
  python3-aiosmtpd openssl
  # the replay report's HTML tests open the page in a real browser:
  # headless Chromium (--dump-dom, --screenshot)
  chromium
  # bench/run_replay_bench.sh compares replay with what users reach for
  # otherwise (jq, the sqlite3 shell) and reads peak RSS from GNU time
  jq sqlite3 time
  # the packaging tests: cpack's Depends (dpkg-shlibdeps) and
  # `systemd-analyze verify` of the units
  dpkg-dev systemd
  # promtool checks the sample alert rules and lints a live /metrics
  prometheus
)

case "${1:-}" in
  --build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  "") ;;
  *) echo "usage: install-deps.sh [--build]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
