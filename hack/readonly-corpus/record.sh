#!/usr/bin/env bash
# Records what real programs print when they write to a read-only mount, for the parser's corpus
# test (detect/readonly_corpus_test.go), so that `make test` needs none of these runtimes.
#
# Usage, as root on a machine with the programs installed (Debian 12: apt-get install coreutils
# tar bash python3 golang default-jdk-headless nodejs npm ruby php-cli perl rustc git nginx-light
# postgresql redis-server erofs-utils):
#   hack/readonly-corpus/record.sh [OUT_DIR]        # OUT_DIR defaults to testdata/readonly
#
# Each case runs once in the C locale and once in C.UTF-8. OUT_DIR/<case>.<locale>.log is the
# program's stdout and stderr as the container runtime would log them (one stream, in order);
# OUT_DIR/cases.tsv lists, per log, how many failures it reports and the paths they name, in
# order ("-" when the message names none), and the command that made it. Cases named neg-* must
# count nothing.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$REPO/testdata/readonly}
RO=/tmp/esx-readonly # fixed, so the recorded paths do not change from one recording to the next
WORK=$(mktemp -d /tmp/esx-readonly-work.XXXXXX)

[ "$(id -u)" = 0 ] || { echo "record.sh: run as root (it mounts a tmpfs)" >&2; exit 1; }

cleanup() {
	umount "$RO" 2>/dev/null || true
	rmdir "$RO" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# The read-only mount: a tmpfs with one existing directory, remounted read-only.
mkdir -p "$RO"
mount -t tmpfs -o size=1m tmpfs "$RO"
mkdir "$RO/existing"
mount -o remount,ro "$RO"

mkdir -p "$OUT" "$WORK/home" "$WORK/bin"
chmod 755 "$WORK" "$WORK/home"
rm -f "$OUT"/*.log
printf '# made by: sudo hack/readonly-corpus/record.sh (read-only mount: %s)\n' "$RO" >"$OUT/cases.tsv"
printf '# case\tlocale\tfailures\tpaths\tcommand\n' >>"$OUT/cases.tsv"

# record CASE FAILURES PATHS COMMAND...: PATHS is "|"-separated, "-" for a failure naming none.
record() {
	local name=$1 failures=$2 paths=$3
	shift 3
	local loc cmd="$*"
	cmd=${cmd//$'\n'/\\n}
	for loc in C C.UTF-8; do
		env -i PATH="$WORK/bin:/root/.cargo/bin:/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" \
			HOME="$WORK/home" LANG="$loc" LC_ALL="$loc" GOCACHE="${GOCACHE:-/root/.cache/go-build}" \
			timeout 60 "$@" >"$OUT/$name.$loc.log" 2>&1 </dev/null || true
		printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$loc" "$failures" "$paths" "$cmd" >>"$OUT/cases.tsv"
	done
}

# Build the small programs once, outside the read-only mount.
(cd "$REPO" && go build -o "$WORK/bin/gowriter" ./hack/readonly-corpus/gowriter)
rustc -O -o "$WORK/bin/rswrite" "$REPO/hack/readonly-corpus/write.rs"
cp "$REPO/hack/readonly-corpus/Write.java" "$WORK/"
javac -d "$WORK/bin" "$WORK/Write.java"
mkdir -p "$WORK/tarsrc" && echo x >"$WORK/tarsrc/data.txt" && tar -C "$WORK/tarsrc" -cf "$WORK/data.tar" data.txt
mkdir -p "$WORK/npmpkg" && echo '{"name": "localpkg", "version": "1.0.0"}' >"$WORK/npmpkg/package.json"
git init -q "$WORK/gitsrc" && git -C "$WORK/gitsrc" -c user.name=r -c user.email=r@localhost commit -q --allow-empty -m init
chown -R postgres "$WORK/home"
runuser -u postgres -- env HOME="$WORK/home" initdb -D "$WORK/home/pg" >/dev/null
cat >"$WORK/nginx.conf" <<NGINX
daemon off;
pid $WORK/nginx.pid;
error_log stderr;
events {}
http {
  client_body_temp_path $RO/client_temp;
  access_log off;
  server { listen 127.0.0.1:18080; }
}
NGINX

# coreutils, tar, bash
record coreutils-touch 1 "$RO/touch.txt" touch "$RO/touch.txt"
record coreutils-touch-relative 1 "relative.txt" env -C "$RO" touch relative.txt
record coreutils-touch-two 2 "$RO/a.txt|$RO/b.txt" touch "$RO/a.txt" "$RO/b.txt"
record coreutils-mkdir 1 "$RO/cache" mkdir -p "$RO/cache/app"
record coreutils-touch-retry 3 "$RO/retry.txt|$RO/retry.txt|$RO/retry.txt" bash -c "for i in 1 2 3; do touch $RO/retry.txt; done"
record node-retry 2 "$RO/node.txt|$RO/node.txt" node -e "for (let i = 0; i < 2; i++) try { require('fs').writeFileSync('$RO/node.txt', 'x') } catch (e) { console.error(e) }"
record coreutils-cp 1 "$RO/existing/copy.txt" cp /etc/hostname "$RO/existing/copy.txt"
record tar-extract 1 "data.txt" tar -xf "$WORK/data.tar" -C "$RO/existing"
record bash-redirect 1 "$RO/bash.txt" bash -c "echo x > $RO/bash.txt"
# Python
record python-uncaught 1 "$RO/py.txt" python3 -c "open('$RO/py.txt', 'w')"
record python-logging 1 "$RO/cache" python3 -c "
import logging, os
try:
    os.makedirs('$RO/cache/app')
except OSError:
    logging.exception('cannot create the cache')"
record python-json 1 "$RO/py.json" python3 -c "
import json, sys
try:
    open('$RO/py.json', 'w')
except OSError as e:
    print(json.dumps({'level': 'error', 'msg': 'cannot save \"state\"', 'error': str(e)}), file=sys.stderr)"
# Go
record go-plain 1 "$RO/go.txt" gowriter plain "$RO/go.txt"
record go-mkdir 1 "$RO/cache" gowriter mkdir "$RO/cache/app"
record go-panic 1 "$RO/go.txt" gowriter panic "$RO/go.txt"
record go-logfmt 1 "$RO/go.txt" gowriter logfmt "$RO/go.txt"
record go-json 1 "$RO/go.json" gowriter json "$RO/go.json"
# Java
record java-nio-uncaught 1 "$RO/java.txt" java -cp "$WORK/bin" Write nio "$RO/java.txt"
record java-io-printstacktrace 1 "$RO/java.txt" java -cp "$WORK/bin" Write io "$RO/java.txt"
# Node.js and npm
record node-uncaught 1 "$RO/node.txt" node -e "require('fs').writeFileSync('$RO/node.txt', 'x')"
record node-promise 1 "$RO/cache" node -e "require('fs').promises.mkdir('$RO/cache')"
record node-json 1 "$RO/node.json" node -e "
try { require('fs').writeFileSync('$RO/node.json', 'x') }
catch (e) { console.error(JSON.stringify({level: 'error', msg: 'cannot save \"state\"', err: e.message, code: e.code})) }"
record npm-init 1 "$RO/existing/package.json" env -C "$RO/existing" npm init -y
# Ruby, PHP, Perl
record ruby-uncaught 1 "$RO/ruby.txt" ruby -e "File.write('$RO/ruby.txt', 'x')"
record ruby-mkdir 1 "$RO/cache" ruby -e "require 'fileutils'; FileUtils.mkdir_p('$RO/cache/app')"
record php-warning 1 "$RO/php.txt" php -r "file_put_contents('$RO/php.txt', 'x');"
record php-mkdir 1 "-" php -r "mkdir('$RO/cache');"
record perl-die 1 "$RO/perl.txt" perl -e 'open(my $f, ">", $ARGV[0]) or die "cannot open $ARGV[0]: $!\n"' "$RO/perl.txt"
record perl-warn 1 "$RO/cache" perl -e 'mkdir($ARGV[0]) or warn "mkdir $ARGV[0]: $!"' "$RO/cache"
# Rust: std::io::Error does not carry the path
record rust-unwrap 1 "-" rswrite unwrap "$RO/rust.txt"
record rust-return 1 "-" rswrite return "$RO/rust.txt"
# git
record git-init 1 "$RO/repo" git init "$RO/repo"
record git-clone 1 "$RO/clone" git clone -q "$WORK/gitsrc" "$RO/clone"
# Servers
record nginx-start 1 "$RO/client_temp" nginx -c "$WORK/nginx.conf"
record postgres-initdb 1 "$RO/pgdata" runuser -u postgres -- initdb -D "$RO/pgdata"
record postgres-socket 1 "$RO/.s.PGSQL.5432.lock" runuser -u postgres -- postgres -D "$WORK/home/pg" -c listen_addresses= -c "unix_socket_directories=$RO"
record redis-aof 1 "appendonlydir" redis-server --port 0 --unixsocket "$WORK/redis.sock" --dir "$RO" --appendonly yes --save ""
record redis-unixsocket 1 "-" redis-server --port 0 --unixsocket "$RO/redis.sock" --save ""

# Negatives: real output that mentions a read-only filesystem or EROFS without a failed write.
record neg-erofs-utils 0 "" fsck.erofs /etc/hostname
record neg-erofs-mkfs 0 "" mkfs.erofs "$WORK/img.erofs" "$WORK/tarsrc"
record neg-python-strerror 0 "" python3 -c "import errno, os; print('EROFS means', repr(os.strerror(errno.EROFS)))"
record neg-findmnt 0 "" findmnt -o TARGET,FSTYPE,OPTIONS "$RO"

# Versions, so a changed message can be traced to a changed program.
{
	for c in "touch --version" "tar --version" "bash --version" "python3 --version" "go version" "java -version" \
		"node --version" "npm --version" "ruby --version" "php --version" "perl -e 'print \"perl \$^V\\n\"'" \
		"rustc --version" "git --version" "nginx -v" "postgres --version" "redis-server --version" "dpkg-query -W erofs-utils"; do
		{ sh -c "$c" 2>&1 </dev/null || true; } | head -1
	done
} >"$OUT/versions.txt"
echo "recorded $(grep -vc '^#' "$OUT/cases.tsv") logs in $OUT"
