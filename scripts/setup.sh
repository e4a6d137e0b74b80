#!/usr/bin/env bash
# Idempotent set-up on Debian 12 (bookworm) and Debian 13 (trixie): system packages, then .venv
# with the package installed editable.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-opencv
  opencv-data python3-gst-1.0 gstreamer1.0-python3-plugin-loader
  gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0
  python3-venv python3-dev python3-numpy libgirepository1.0-dev libcairo2-dev pkg-config gcc
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev  # headers of the _native extension
  valgrind  # make bench-instructions
  mosquitto redis-server openssl  # brokers the metapublish tests start on free ports
)
# Debian 13 has GStreamer's analytics elements (onnxinference, ssdobjectdetector, ...): the
# tests build their ONNX model with Debian's onnx, whose IR version and opsets they accept.
. /etc/os-release
if [ "${VERSION_ID%%.*}" -ge 13 ] 2>/dev/null; then
  APT_PACKAGES+=(python3-onnx)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # mosquitto and redis-server are only for the tests, which start their own on free ports: no
  # system service is started for them (a policy-rc.d refusing starts, only during this install).
  policy=/usr/sbin/policy-rc.d; own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy"
    own_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" || status=$?
  [ -z "$own_policy" ] || $SUDO rm -f "$policy"
  [ "$status" -eq 0 ] || exit "$status"
fi

# Debian's gi and Gst overrides are only visible from Debian's interpreter.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
# torch's CPU wheel exists for Python 3.11 only; elsewhere pip would pull a multi-GB CUDA build.
extras=dev,examples,opencv,publish
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  extras=$extras,torch
else
  echo "setup: no torch CPU wheel for Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])'): torch not installed, its tests skip"
fi
stamp=.venv/.empycustom-installed
# The editable install also builds the C extension into src/: again whenever its source changed.
native=(src/empycustom/_native*.so)
native_changed=""
for source in src/empycustom/_native*.c; do
  [ -f "${native[0]}" ] && [ ! "$source" -nt "${native[0]}" ] || native_changed=1
done
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] ||
  [ -n "$native_changed" ]; then
  .venv/bin/pip install -q --upgrade pip
  # PyGObject 3.48.2 removes the "created element should be floating" CRITICAL of Debian's 3.42.
  .venv/bin/pip install -q "pygobject==3.48.2" -e ".[$extras]"
  touch "$stamp"
fi
