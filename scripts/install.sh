#!/usr/bin/env bash
# `make install`: tcpotel under $PREFIX/lib/tcpotel (the compiled code, the native addon,
# the production node modules), a `tcpotel` command in $PREFIX/bin, the config in
# $SYSCONFDIR/tcpotel/ (kept when it exists), and the systemd unit. DESTDIR stages it all
# under another root (packaging, tests). Run after `make build`.
set -euo pipefail

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
LIBDIR=${LIBDIR:-$PREFIX/lib/tcpotel}
BINDIR=${BINDIR:-$PREFIX/bin}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
# The Node.js the native addon was built for: the command runs it by its path, whatever
# PATH says (systemd's is short; nvm's node is not on it).
NODE=${NODE:-$(command -v node)}

cd "$(dirname "$0")/.."
for f in dist/src/cli/main.js build/Release/tcpotel.node bpf/tcpotel.h; do
  [ -e "$f" ] || { echo "install: $f is missing: run make first" >&2; exit 1; }
done
case "$PREFIX$LIBDIR$BINDIR$SYSCONFDIR$UNITDIR" in *'#'*) echo "install: paths cannot contain #" >&2; exit 1 ;; esac

lib=$DESTDIR$LIBDIR
rm -rf "$lib"
install -d "$lib/bin" "$lib/dist" "$lib/build/Release" "$lib/bpf" "$lib/node_modules"
install -m 0644 package.json README.md "$lib/"
install -m 0755 bin/tcpotel.js "$lib/bin/"
cp -R dist/src "$lib/dist/"
install -m 0755 build/Release/tcpotel.node "$lib/build/Release/"
install -m 0644 bpf/tcpotel.h "$lib/bpf/"
cp -R pipelines docs "$lib/"
# The production dependencies only (what `npm ls --omit=dev` lists), each with what it nests.
npm ls --omit=dev --all --parseable 2>/dev/null | while read -r dir; do
  rel=${dir#"$PWD"/}
  case $rel in
    node_modules/@*/*/node_modules/* | node_modules/[!@]*/node_modules/*) ;;  # copied with its parent
    node_modules/@*/*) install -d "$lib/$(dirname "$rel")"; cp -R "$rel" "$lib/$rel" ;;
    node_modules/*) cp -R "$rel" "$lib/$rel" ;;
  esac
done

install -d "$DESTDIR$BINDIR"
cat > "$DESTDIR$BINDIR/tcpotel" <<SCRIPT
#!/bin/sh
# tcpotel, installed by make install: run with the Node.js its native addon was built for.
exec $NODE $LIBDIR/bin/tcpotel.js "\$@"
SCRIPT
chmod 0755 "$DESTDIR$BINDIR/tcpotel"

install -d "$DESTDIR$SYSCONFDIR/tcpotel"
if [ -e "$DESTDIR$SYSCONFDIR/tcpotel/config.yaml" ]; then
  echo "install: keeping $DESTDIR$SYSCONFDIR/tcpotel/config.yaml (the new default is $lib/pipelines/host.yaml)"
else
  install -m 0644 pipelines/host.yaml "$DESTDIR$SYSCONFDIR/tcpotel/config.yaml"
fi

install -d "$DESTDIR$UNITDIR"
sed -e "s#@BINDIR@#$BINDIR#g" -e "s#@LIBDIR@#$LIBDIR#g" -e "s#@SYSCONFDIR@#$SYSCONFDIR#g" \
  deploy/systemd/tcpotel.service.in > "$DESTDIR$UNITDIR/tcpotel.service"
chmod 0644 "$DESTDIR$UNITDIR/tcpotel.service"

echo "install: tcpotel in $DESTDIR$LIBDIR, the command $DESTDIR$BINDIR/tcpotel, the unit $DESTDIR$UNITDIR/tcpotel.service"
if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  echo "install: start it with: systemctl enable --now tcpotel"
fi
