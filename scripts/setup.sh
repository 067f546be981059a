#!/bin/sh
# Installs every build, test and benchmark dependency of edlstation from Debian's packages.
# Runs on a fresh Debian 12 machine as root; safe to run twice; when everything is present it
# only asks dpkg and returns in well under a second.
set -eu

PACKAGES="
build-essential cmake pkg-config git clang clang-format libclang-rt-14-dev python3
libusb-1.0-0-dev libuv1-dev libsqlite3-dev sqlite3 libxml2-dev libssl-dev libinih-dev zlib1g-dev
libcmocka-dev libncurses-dev tmux
umockdev libumockdev-dev libglib2.0-dev libudev-dev usbutils qdl procps
android-libsparse-dev android-sdk-libsparse-utils
scdoc man-db groff-base dpkg-dev systemd libsystemd-dev
tshark
libh2o-dev libpq-dev postgresql libjansson-dev
chromium chromium-driver python3-selenium python3-prometheus-client fonts-dejavu-core
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "setup: missing Debian packages:$missing" >&2
	echo "setup: run this script as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi

echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
