#!/bin/sh
# mkdeb.sh ARCH OUTDIR: build the chairside .deb for a Debian architecture
# (arm64, armhf = ARMv7 Pi 2/3/4 32-bit, armel = ARMv6 Pi Zero/1, amd64)
# with dpkg-deb. It packages every main package under cmd/ except demo, so
# a new program (station, recorder) joins by itself, with its unit
# systemd/chairside-<program>.service (systemd/chairside.service for
# chairside) when there is one.
#
# Environment: VERSION (git describe style; default from git), GO (go),
# CONFIGS (the folder whose *.toml become /etc/chairside conffiles; configs).
# Run from the repository's top folder (make deb does).
set -eu
arch=${1:?usage: mkdeb.sh ARCH OUTDIR}
out=${2:?usage: mkdeb.sh ARCH OUTDIR}
GO=${GO:-go}
CONFIGS=${CONFIGS:-configs}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}

case "$arch" in
arm64) goarch=arm64 goarm= ;;
armhf) goarch=arm goarm=7 ;;
armel) goarch=arm goarm=6 ;;
amd64) goarch=amd64 goarm= ;;
*) echo "mkdeb.sh: unknown architecture $arch (arm64, armhf, armel, amd64)" >&2; exit 2 ;;
esac

# Debian versions start with a digit and use + and ~ where git uses -.
debversion=$(printf '%s' "$VERSION" | sed -e 's/^v//' -e 's/-/+/g')
case "$debversion" in [0-9]*) ;; *) debversion="0~git$debversion" ;; esac

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/lib/systemd/system" "$stage/usr/lib/udev/rules.d" \
	"$stage/etc/chairside" "$stage/usr/share/chairside/scenarios" "$stage/usr/share/doc/chairside/examples/mosquitto"

programs=$($GO list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./cmd/... | grep -v '/cmd/demo$')
[ -n "$programs" ] || { echo "mkdeb.sh: no program under cmd/" >&2; exit 1; }
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm $GO build -trimpath \
	-ldflags "-s -w -X github.com/chairside/chairside/cmd/internal/buildinfo.stamped=$VERSION" \
	-o "$stage/usr/bin/" $programs

units=
for p in $programs; do
	name=${p##*/}
	unit=systemd/chairside-$name.service
	[ "$name" = chairside ] && unit=systemd/chairside.service
	if [ -f "$unit" ]; then
		install -m 0644 "$unit" "$stage/usr/lib/systemd/system/"
		units="$units ${unit##*/}"
	fi
done
units=${units# }

install -m 0644 packaging/udev/60-chairside.rules "$stage/usr/lib/udev/rules.d/"
for f in "$CONFIGS"/*.toml; do
	install -m 0644 "$f" "$stage/etc/chairside/"
done
install -m 0644 "$CONFIGS"/scenarios/*.toml "$stage/usr/share/chairside/scenarios/"
install -m 0644 "$CONFIGS"/mosquitto/* "$stage/usr/share/doc/chairside/examples/mosquitto/"
for d in README.md docs/operators-guide.md; do
	[ -f "$d" ] && install -m 0644 "$d" "$stage/usr/share/doc/chairside/"
done
[ -f LICENSE ] && install -m 0644 LICENSE "$stage/usr/share/doc/chairside/copyright"

(cd "$stage" && find etc -type f | sort | sed 's|^|/|') > "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	sed "s|@UNITS@|$units|" "packaging/deb/$s" > "$stage/DEBIAN/$s"
	chmod 0755 "$stage/DEBIAN/$s"
done
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: chairside
Version: $debversion
Architecture: $arch
Maintainer: chairside <chairside@users.noreply.github.com>
Installed-Size: $size
Recommends: systemd-timesyncd | time-daemon
Section: misc
Priority: optional
Homepage: https://github.com/chairside/chairside
Description: chairside vital-signs monitor for ketamine infusions
 The bedside daemon (chairside) reads a pulse oximeter and a blood-pressure
 module, follows the session, raises alarms at the bedside and publishes
 everything over MQTT. Also holds the sensor emulator (vitalsim) and, when
 built, the nursing station and the records bridge, with their systemd
 units, example configs in /etc/chairside and udev rules naming the sensors
 /dev/chairside/*.
CONTROL

mkdir -p "$out"
deb="$out/chairside_${debversion}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
