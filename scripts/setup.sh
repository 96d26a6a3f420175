#!/usr/bin/env bash
# Installs what tcpotel needs to build and test, where it is missing:
# Debian packages (as root, with apt) and the node modules are handled by the Makefile.
set -euo pipefail

# package -> a file or command that shows it is installed
declare -A NEED=(
  [clang]=/usr/bin/clang
  [llvm]=/usr/bin/llvm-strip
  [libbpf-dev]=/usr/include/bpf/libbpf.h
  [bpftool]=/usr/sbin/bpftool
  [libelf-dev]=/usr/include/libelf.h
  [zlib1g-dev]=/usr/include/zlib.h
  [pkg-config]=/usr/bin/pkg-config
  [make]=/usr/bin/make
  [g++]=/usr/bin/g++
  [python3]=/usr/bin/python3
  [iproute2]=/usr/sbin/ip
  [nftables]=/usr/sbin/nft
  [tmux]=/usr/bin/tmux
  [prometheus]=/usr/bin/prometheus
  [bpftrace]=/usr/bin/bpftrace
  [openssl]=/usr/bin/openssl
  [systemd]=/usr/bin/systemd-analyze
)
# From bookworm-backports: the official OTLP .proto files for the test receiver.
BACKPORTS_NEED=(opentelemetry-proto)
BACKPORTS_FILE=/usr/include/opentelemetry/proto/collector/metrics/v1/metrics_service.proto

missing=()
for pkg in "${!NEED[@]}"; do
  [ -e "${NEED[$pkg]}" ] || missing+=("$pkg")
done
need_backports=0
[ -e "$BACKPORTS_FILE" ] || need_backports=1

if [ ${#missing[@]} -eq 0 ] && [ $need_backports -eq 0 ]; then
  echo "setup: every Debian package is present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]} ${BACKPORTS_NEED[*]:+(and from bookworm-backports: ${BACKPORTS_NEED[*]})}" >&2
  echo "setup: run 'make' as root once, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ $need_backports -eq 1 ] && ! grep -rqs 'backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Build the backports entry from the mirror the system already uses; no host is hard-coded.
  uri=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  if [ -n "$uri" ]; then
    printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" "$codename" > /etc/apt/sources.list.d/tcpotel-backports.sources
  fi
fi
echo "setup: installing ${missing[*]} ${BACKPORTS_NEED[*]}"
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ $need_backports -eq 1 ]; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  apt-get install -y -qq --no-install-recommends -t "$codename-backports" "${BACKPORTS_NEED[@]}" ||
    apt-get install -y -qq --no-install-recommends "${BACKPORTS_NEED[@]}"
fi
