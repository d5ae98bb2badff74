#!/usr/bin/env bash
# Installs every Debian (bookworm) package that hearth's build and tests need.
# Idempotent: packages already present are not touched, and apt is only called when
# something is missing. Works as root; otherwise uses sudo.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries (see DESIGN.md, "Libraries")
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev
  # knowledge base: store, segmentation, document formats (pdftotext runs as a subprocess)
  libsqlite3-dev libicu-dev libxml2-dev libzip-dev libpugixml-dev libmd4c-dev poppler-utils zlib1g-dev libssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # portable AVX-512 for testing the AVX-512 kernels on CPUs without it (header-only);
  # the ARM64 cross compiler and user-mode emulator that build and run the kernel tests for
  # ARM64 (scripts/test-arm64-kernels.sh; GoogleTest's sources come with libgtest-dev)
  libsimde-dev g++-aarch64-linux-gnu qemu-user googletest
  # test oracles (never used at run time)
  python3 python3-numpy python3-jinja2
  # knowledge-base test fixtures and corpora (DOCX writer; Debian manuals read in place)
  python3-docx debian-policy debian-reference-en debian-reference-zh-cn
  # HTTP server; its integration tests (node test runner + npm clients, curl)
  libcpp-httplib-dev nodejs npm curl
  # `hearth chat`: line editing and history
  libedit-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  # A nodejs from elsewhere (e.g. NodeSource) brings its own npm and conflicts with Debian's.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-deps: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
