#!/bin/sh
# Builds the Debian package from the tree: a Release build installed under
# /usr, packed by CPack's DEB generator (Depends from dpkg-shlibdeps; the
# conffile and maintainer scripts are in config/debian/). Prints the .deb's path.
#   scripts/package.sh [BUILD_DIR]      (default build-deb)
# Install it with:  sudo apt install ./build-deb/edlstation_*.deb
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build-deb}
JOBS=$(nproc 2>/dev/null || echo 2)

for tool in scdoc dpkg-shlibdeps cpack; do
	command -v "$tool" >/dev/null || {
		echo "scripts/package.sh: $tool is missing: run scripts/setup.sh (as root)" >&2
		exit 2
	}
done
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	-DCMAKE_INSTALL_SYSCONFDIR=/etc -DCMAKE_INSTALL_LOCALSTATEDIR=/var >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target edlstation man >/dev/null
(cd "$BUILD" && cpack -G DEB >/dev/null)
ls "$BUILD"/edlstation_*.deb
