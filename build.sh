#!/usr/bin/env bash
# Ferry's one entry point.
#   ./build.sh run            install deps, build, start PostgreSQL + ferryd + nginx on 127.0.0.1:8080
#   ./build.sh stop           stop what `run` started
#   ./build.sh test [--asan]  build, then every unit and integration test
#   ./build.sh bench [NAME]   benchmarks (NAME and NAME_*), each beside its baseline from the same run
#   ./build.sh build [--asan] build ferryd, the unit tests and the nginx module only
#   ./build.sh fuzz [NAME]    libFuzzer targets for every parser (FUZZ_SECONDS each)
#   ./build.sh fmt            format the C sources with clang-format (.clang-format)
#   ./build.sh clean          remove build output (not ./var)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
NGINX_SRC=${NGINX_SRC:-/usr/share/nginx/src}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
VAR=$ROOT/var   # or where state_dir() says, once layout() ran
PORT=${FERRY_PORT:-8080}
ASAN=0

DEB_PKGS=(nginx nginx-dev libpq-dev libcjson-dev libcurl4-openssl-dev libcmocka-dev
          libssl-dev libcrypt-dev postgresql postgresql-contrib wrk curl jq make gcc
          libpcre2-dev zlib1g-dev libjson-pp-perl libmojolicious-perl libev-perl
          libcpanel-json-xs-perl clang-format
          libzip-dev unzip python3-botocore)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- deps
deps() {
    local missing=() p
    for p in "${DEB_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    if [ "$ASAN" = 1 ] && ! dpkg-query -W -f='${Status}' libasan8 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=(libasan8)
    fi
    # npm fetches s3rver, the S3 peer of the tests (any node will do)
    command -v npm >/dev/null || missing+=(nodejs npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run as root or install them"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian postgresql package may start a system cluster; Ferry runs its own.
}

# ---------------------------------------------------------------- build
build_dir() { [ "$ASAN" = 1 ] && echo "$ROOT/build-asan" || echo "$ROOT/build"; }

build_helper() {
    local j; j=$(nproc)
    if [ "$ASAN" = 1 ]; then make -s -j"$j" SAN=1 all; else make -s -j"$j" all; fi
}

# The module is built the way third-party modules ship: nginx's own configure
# with the flags Debian's nginx was built with, plus --add-dynamic-module.
build_module() {
    local b src flags cc_opt
    b=$(build_dir)
    src=$b/nginx-src
    [ -f "$NGINX_SRC/configure" ] || die "no nginx source tree at $NGINX_SRC (install nginx-dev or set NGINX_SRC)"
    if [ ! -f "$src/configure" ] || [ "$NGINX_SRC/configure" -nt "$src/configure" ]; then
        rm -rf "$src"; mkdir -p "$b"; cp -a "$NGINX_SRC" "$src"
    fi
    cc_opt="-O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers"
    [ "$ASAN" = 1 ] && cc_opt="$cc_opt -fsanitize=address -fno-omit-frame-pointer"
    if [ ! -f "$src/objs/Makefile" ] || [ "$ROOT/config" -nt "$src/objs/Makefile" ] \
            || [ "$ROOT/build.sh" -nt "$src/objs/Makefile" ]; then
        flags=()
        if [ -f "$src/conf_flags" ]; then
            # shellcheck disable=SC1091
            . "$src/conf_flags"; flags=("${NGX_CONF_FLAGS[@]}")
        fi
        (cd "$src" && ./configure "${flags[@]}" --with-cc-opt="$cc_opt" \
            --add-dynamic-module="$ROOT" >"$b/nginx-configure.log" 2>&1) \
            || { tail -30 "$b/nginx-configure.log"; die "nginx configure failed"; }
    fi
    make -s -C "$src" -f objs/Makefile -j"$(nproc)" modules >"$b/nginx-make.log" 2>&1 \
        || { grep -E "error|Error" "$b/nginx-make.log" | head -40 || true; die "module build failed"; }
    # only a module that changed is copied, so that `run` restarts nginx
    # only then; a new inode: a running nginx has the old file mapped, and
    # overwriting it in place would crash that nginx on its next reload
    if ! cmp -s "$src/objs/ngx_http_ferry_module.so" "$b/ngx_http_ferry_module.so"; then
        cp "$src/objs/ngx_http_ferry_module.so" "$b/ngx_http_ferry_module.so.new"
        mv -f "$b/ngx_http_ferry_module.so.new" "$b/ngx_http_ferry_module.so"
    fi
}

build() {
    build_helper
    build_module
    log "built $(build_dir)/ferryd and $(build_dir)/ngx_http_ferry_module.so"
}

# s3rver 3.7.1 from npm, for t/import_s3.t (into build/node, not the tree)
test_deps() {
    [ -x "$ROOT/build/node/node_modules/.bin/s3rver" ] && return 0
    log "installing s3rver (npm) into build/node"
    npm install --prefix "$ROOT/build/node" --no-audit --no-fund --loglevel=error \
        s3rver@3.7.1 >/dev/null || die "npm install s3rver failed"
}

# ---------------------------------------------------------------- run
# The state of `run` (cluster, sockets, spool, reports, logs, nginx.conf)
# lives in ./var. postgres and nginx's workers (www-data) must reach it, so
# when the clone sits in a directory they cannot enter (a home with mode
# 0700, a mktemp -d), it lives in /var/lib/ferry-dev/<hash of the clone's
# path> instead, and ./var links there.
reachable() {   # user dir
    [ "$(id -u)" = 0 ] || return 0
    runuser -u "$1" -- test -x "$2" 2>/dev/null
}

state_dir() {
    if [ -L "$ROOT/var" ] || { reachable postgres "$ROOT" && reachable www-data "$ROOT"; }; then
        if [ -L "$ROOT/var" ]; then readlink -f "$ROOT/var"; else echo "$ROOT/var"; fi
    else
        echo "/var/lib/ferry-dev/$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)"
    fi
}

layout() {
    VAR=$(state_dir)
    mkdir -p "$VAR/log" "$VAR/spool" "$VAR/reports" "$VAR/run" "$VAR/pg"
    if [ "$VAR" != "$ROOT/var" ] && [ ! -e "$ROOT/var" ]; then
        chmod 0755 "$(dirname "$VAR")"
        ln -s "$VAR" "$ROOT/var"
    fi
    chmod 0755 "$VAR" "$VAR/reports" "$VAR/run" "$VAR/log"
    RUNDIR=$VAR/run
    PGDATA=$VAR/pg
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$PGDATA"
        chown postgres "$RUNDIR"
        chmod 0775 "$RUNDIR"
        # nginx's workers write uploads into the spool, ferryd takes them over
        chown www-data:www-data "$VAR/spool"
        chgrp www-data "$VAR/reports"
        chmod 2775 "$VAR/spool" "$VAR/reports"
    fi
    PGPORT=${PGPORT:-5433}
    DATABASE_URL="postgresql:///ferry?host=$RUNDIR&port=$PGPORT&user=postgres"
    export DATABASE_URL
}

as_postgres() {
    # from /: postgres may not enter the clone's directory
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

start_pg() {
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        log "initdb $PGDATA"
        as_postgres "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --no-locale >"$VAR/log/initdb.log" 2>&1 \
            || { cat "$VAR/log/initdb.log"; die "initdb failed"; }
    fi
    if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        log "starting PostgreSQL (socket in $RUNDIR, port $PGPORT)"
        touch "$VAR/log/postgres.log"
        [ "$(id -u)" = 0 ] && chown postgres "$VAR/log/postgres.log"
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$VAR/log/postgres.log" \
            -o "-p $PGPORT -k $RUNDIR -c listen_addresses=''" start >/dev/null \
            || { tail -20 "$VAR/log/postgres.log"; die "PostgreSQL did not start"; }
    fi
    psql -X -q -h "$RUNDIR" -p "$PGPORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'ferry'" | grep -q 1 \
        || psql -X -q -h "$RUNDIR" -p "$PGPORT" -U postgres -d postgres -c 'CREATE DATABASE ferry'
}

# The HS256 secret nginx verifies tokens with and ferryd signs them with,
# made once per checkout.
jwt_secret() {
    if [ ! -s "$VAR/jwt.secret" ]; then
        (umask 077; head -c 48 /dev/urandom | base64 -w0 >"$VAR/jwt.secret"; echo >>"$VAR/jwt.secret")
    fi
}

# A stand-in for a Slack app's signing secret, so that /slack/events is
# live; put your app's own in var/slack-signing.secret to receive its events.
slack_secret() {
    if [ ! -s "$VAR/slack-signing.secret" ]; then
        (umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' \
            >"$VAR/slack-signing.secret"; echo >>"$VAR/slack-signing.secret")
    fi
}

ferryd_env() {
    jwt_secret
    export FERRY_SOCKET=$RUNDIR/ferryd.sock LOG_FILE=$VAR/log/ferryd.log \
           MIGRATIONS_DIR=$ROOT/migrations SPOOL_DIR=$VAR/spool REPORTS_DIR=$VAR/reports \
           JWT_SECRET_FILE=$VAR/jwt.secret REPORTS_URL=http://127.0.0.1:$PORT/reports
    # nginx's workers run as www-data when started by root; otherwise the
    # socket keeps the caller's group
    if [ "$(id -u)" = 0 ]; then export SOCKET_GROUP=www-data; else export SOCKET_GROUP=; fi
}

start_ferryd() {
    ferryd_env
    "$(build_dir)/ferryd" -c "$ROOT/conf/ferryd.conf" migrate up
    if [ -f "$VAR/ferryd.pid" ] && kill -0 "$(cat "$VAR/ferryd.pid")" 2>/dev/null; then
        # a running ferryd of the same build keeps running (and its jobs)
        if [ ! "$(build_dir)/ferryd" -nt "$VAR/ferryd.pid" ]; then
            log "ferryd is running (pid $(cat "$VAR/ferryd.pid"))"
            return 0
        fi
        log "restarting ferryd: it was rebuilt"
        kill "$(cat "$VAR/ferryd.pid")"
        while kill -0 "$(cat "$VAR/ferryd.pid")" 2>/dev/null; do sleep 0.1; done
    fi
    log "starting ferryd (socket $FERRY_SOCKET, log $LOG_FILE)"
    # the export's settings come from this environment, as ferryd reads it
    local passed
    passed=$(env | grep -oE '^(MM|EXPORT|ATTACHMENT|GRIST)_[A-Z0-9_]*' | sort | tr '\n' ' ' || true)
    if [ -n "$passed" ]; then log "passing to ferryd from the environment: $passed"; fi
    setsid nohup "$(build_dir)/ferryd" -c "$ROOT/conf/ferryd.conf" >>"$VAR/log/ferryd.out" 2>&1 &
    echo $! >"$VAR/ferryd.pid"
    for _ in $(seq 100); do [ -S "$FERRY_SOCKET" ] && return 0; sleep 0.1; done
    tail -20 "$VAR/log/ferryd.log" "$VAR/log/ferryd.out" 2>/dev/null
    die "ferryd did not start"
}

# The dev nginx.conf: Ferry's example locations (conf/ferry-locations.conf)
# inside a server on 127.0.0.1:$PORT, with every path under ./var.
write_nginx_conf() {
    local user=""
    [ "$(id -u)" = 0 ] && user="user www-data;"
    slack_secret
    cat >"$VAR/nginx.conf" <<NGX
# Generated by ./build.sh run from conf/; edit conf/ferry-locations.conf instead.
load_module $(build_dir)/ngx_http_ferry_module.so;
$user
worker_processes 2;
pid $VAR/nginx.pid;
error_log $VAR/log/nginx-error.log info;
events { worker_connections 1024; }
http {
    access_log $VAR/log/nginx-access.log;
    client_body_temp_path $VAR/nginx-body;
    proxy_temp_path $VAR/nginx-proxy;
    fastcgi_temp_path $VAR/nginx-fastcgi;
    uwsgi_temp_path $VAR/nginx-uwsgi;
    scgi_temp_path $VAR/nginx-scgi;
    upstream ferryd {
        server unix:$RUNDIR/ferryd.sock;
        keepalive 16;
    }
    ferry_zone ferry_idem:10m;
    server {
        listen 127.0.0.1:$PORT;
        ferry_jwt_secret_file $VAR/jwt.secret;
        ferry_spool_path $VAR/spool;
        ferry_slack_signing_secret_file $VAR/slack-signing.secret;
        include $ROOT/conf/ferry-errors.conf;
        include $ROOT/conf/ferry-locations.conf;
        location /reports/ {
            alias $VAR/reports/;
            include $ROOT/conf/ferry-reports.conf;
        }
    }
}
NGX
}

api_auth_state() {
    if [ -n "${API_AUTH_USER:-}" ] && [ -n "${API_AUTH_PASSWORD:-}" ]; then
        echo "user $API_AUTH_USER"
    else
        echo "closed: set API_AUTH_USER and API_AUTH_PASSWORD and run again"
    fi
}

# The read API's one user (nginx's auth_basic reads the file next to
# nginx.conf). Without API_AUTH_USER and API_AUTH_PASSWORD the file is
# empty: the read API answers 401 to everyone.
write_htpasswd() {
    local file="$VAR/ferry-api.htpasswd" hash
    : >"$file.tmp"
    chmod 600 "$file.tmp"
    if [ "$(id -u)" = 0 ]; then chgrp www-data "$file.tmp"; chmod 640 "$file.tmp"; fi
    if [ -n "${API_AUTH_USER:-}" ] && [ -n "${API_AUTH_PASSWORD:-}" ]; then
        case "$API_AUTH_USER" in *:*) die "API_AUTH_USER cannot hold a colon" ;; esac
        hash=$(printf '%s\n' "$API_AUTH_PASSWORD" | openssl passwd -apr1 -stdin) \
            || die "openssl passwd failed"
        printf '%s:%s\n' "$API_AUTH_USER" "$hash" >"$file.tmp"
        log "read API (/badges, /persons …): basic auth as $API_AUTH_USER"
    else
        log "read API (/badges, /persons …) closed: set API_AUTH_USER and API_AUTH_PASSWORD"
    fi
    mv "$file.tmp" "$file"
}

start_nginx() {
    write_nginx_conf
    write_htpasswd
    "$NGINX_BIN" -t -q -p "$VAR/" -c "$VAR/nginx.conf" || die "nginx config test failed"
    # a reload keeps the module the master loaded first (dlopen of the same
    # path returns it): a rebuilt module needs a restart
    if [ -f "$VAR/nginx.pid" ] && kill -0 "$(cat "$VAR/nginx.pid")" 2>/dev/null \
            && [ "$(build_dir)/ngx_http_ferry_module.so" -nt "$VAR/nginx.pid" ]; then
        stop nginx
        for _ in $(seq 50); do [ -f "$VAR/nginx.pid" ] || break; sleep 0.1; done
    fi
    if [ -f "$VAR/nginx.pid" ] && kill -0 "$(cat "$VAR/nginx.pid")" 2>/dev/null; then
        log "reloading nginx on 127.0.0.1:$PORT"
        "$NGINX_BIN" -p "$VAR/" -c "$VAR/nginx.conf" -s reload
    else
        log "starting nginx on 127.0.0.1:$PORT"
        "$NGINX_BIN" -p "$VAR/" -c "$VAR/nginx.conf"
    fi
}

run() {
    deps; build; layout; start_pg; start_ferryd; start_nginx
    for _ in $(seq 50); do curl -fs "127.0.0.1:$PORT/healthcheck" >/dev/null && break; sleep 0.1; done
    cat <<EOF

Ferry is running: nginx on 127.0.0.1:$PORT, ferryd on $RUNDIR/ferryd.sock,
PostgreSQL in $PGDATA (psql -h $RUNDIR -p $PGPORT -U postgres ferry).
State (cluster, spool, reports, logs, nginx.conf) in $VAR; logs in $VAR/log.

Try:
  curl -s localhost:$PORT/healthcheck            # {"status":"ok","helper":"up","database":"up"}
  curl -s localhost:$PORT/auth/register -d '{"email":"me@example.com","password":"secret123"}'
  TOKEN=\$(curl -s localhost:$PORT/auth/token -d '{"email":"me@example.com","password":"secret123"}' | jq -r .access_token)
  curl -s localhost:$PORT/auth/me -H "Authorization: Bearer \$TOKEN"
  printf 'email,first_name,last_name,phone,city\\na@b.cd,A,B,,Oslo\\nbad,,,,\\n' > /tmp/c.csv
  curl -s 'localhost:$PORT/imports?mode=insert_only' -H "Authorization: Bearer \$TOKEN" -H 'Idempotency-Key: k1' -F file=@/tmp/c.csv
  curl -s localhost:$PORT/imports -H "Authorization: Bearer \$TOKEN"            # the job, done
  curl -s localhost:$PORT/imports/<id>/errors -H "Authorization: Bearer \$TOKEN" # a signed link to errors.csv
  perl $ROOT/t/tools/gen_slack_export.pl /tmp/export.zip --messages 2000 --users 40 --public 4 --dms 3 --private 2 --mpims 1
  curl -s localhost:$PORT/slack/upload -H "Authorization: Bearer \$TOKEN" -H 'Idempotency-Key: s1' -F file=@/tmp/export.zip
  curl -s localhost:$PORT/slack/uploads -H "Authorization: Bearer \$TOKEN"      # counts, errors
  curl -s localhost:$PORT/export -H "Authorization: Bearer \$TOKEN" -d '{"team":"migrated","mode":"bulk"}'  # a Mattermost bulk-import archive
  curl -s localhost:$PORT/export -H "Authorization: Bearer \$TOKEN"             # the exports; /export/<id> has the archive's link
  # with MM_URL and MM_TOKEN in the environment of ./build.sh run: "mode":"api" or "plugin" exports live
  curl -s -u "\$API_AUTH_USER:\$API_AUTH_PASSWORD" 'localhost:$PORT/badges?role=VOLUNTEER&page_size=20'  # Grist read API ($(api_auth_state))
  curl -s 'localhost:$PORT/feeder/sync?from_date=2026-06-01T00:00:00Z'      # the feeder's changes since
  curl -s localhost:$PORT/sync/status -H "Authorization: Bearer \$TOKEN"    # the Grist sync's state
  ./build.sh stop ferryd; curl -s localhost:$PORT/health   # 503, "helper":"down"
  ./build.sh run                                 # safe to run again: starts what is down
  ./build.sh stop                                # stops nginx, ferryd and PostgreSQL

EOF
    curl -s "127.0.0.1:$PORT/healthcheck"; echo
}

stop() {   # [nginx|ferryd|postgres]...
    local what=("$@")
    [ ${#what[@]} -eq 0 ] && what=(nginx ferryd postgres)
    layout >/dev/null 2>&1 || true
    for w in "${what[@]}"; do
        case "$w" in
            nginx)
                if [ -f "$VAR/nginx.pid" ] && kill -0 "$(cat "$VAR/nginx.pid")" 2>/dev/null; then
                    log "stopping nginx"; "$NGINX_BIN" -p "$VAR/" -c "$VAR/nginx.conf" -s quit
                fi ;;
            ferryd)
                if [ -f "$VAR/ferryd.pid" ] && kill -0 "$(cat "$VAR/ferryd.pid")" 2>/dev/null; then
                    log "stopping ferryd"; kill "$(cat "$VAR/ferryd.pid")"
                    while kill -0 "$(cat "$VAR/ferryd.pid")" 2>/dev/null; do sleep 0.1; done
                    rm -f "$VAR/ferryd.pid"
                fi ;;
            postgres)
                if [ -f "$PGDATA/postmaster.pid" ]; then
                    log "stopping PostgreSQL"
                    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true
                fi ;;
            *) die "stop what? nginx, ferryd or postgres" ;;
        esac
    done
}

# ---------------------------------------------------------------- test
run_tests() {
    local rc=0 b
    b=$(build_dir)
    log "unit tests"
    for t in "$b"/t/test_*; do
        [ -x "$t" ] || continue
        "$t" || rc=1
    done
    log "integration tests"
    FERRY_BUILD=$b FERRY_ASAN=$ASAN prove -I t/lib -j2 t/*.t || rc=1
    [ $rc = 0 ] && log "all tests passed" || log "SOME TESTS FAILED"
    return $rc
}

bench() {
    local which=${1:-all} f
    deps; build
    command -v wrk >/dev/null || die "wrk is missing"
    # a name runs its family too: `bench export` is export.pl, export_bulk.pl
    for f in t/bench/*.pl; do
        case "$(basename "$f" .pl)" in "$which"|"$which"_*) ;; *)
            [ "$which" = all ] || continue ;;
        esac
        log "bench $(basename "$f" .pl)"
        FERRY_BUILD=$(build_dir) perl -I t/lib "$f"
    done
}

# ---------------------------------------------------------------- style
# Every C file of the tree, formatted by clang-format with .clang-format and
# no line over 80 columns; `test` refuses to run on anything else.
c_sources() {
    git ls-files --cached --others --exclude-standard -- '*.c' '*.h' 2>/dev/null \
        || find common ngx_module helper t -name '*.[ch]' | sort
}

fmt() {
    c_sources | xargs clang-format -i
    log "formatted $(c_sources | wc -l) files"
}

check_style() {
    local bad long
    bad=$(c_sources | xargs clang-format --dry-run 2>&1 | grep -oE '^[^ :]+\.[ch]:[0-9]+' | sort -u || true)
    long=$(c_sources | xargs awk 'length > 80 { print FILENAME ":" FNR ": " length " columns" }')
    if [ -n "$bad" ] || [ -n "$long" ]; then
        [ -n "$bad" ] && printf 'not formatted (./build.sh fmt):\n%s\n' "$bad" >&2
        [ -n "$long" ] && printf 'over 80 columns:\n%s\n' "$long" >&2
        die "style check failed"
    fi
}

# ---------------------------------------------------------------- fuzz
# libFuzzer targets for every parser (t/fuzz/fuzz_*.c), built with clang,
# each run for FUZZ_SECONDS (30) from the seeds in t/fuzz/seeds/ and its
# corpus in build/fuzz/; a crash stops with the input that caused it.
fuzz() {
    local which=${1:-all} f name srcs out=$ROOT/build/fuzz
    deps
    if ! command -v clang >/dev/null; then
        [ "$(id -u)" = 0 ] || die "clang is missing"
        apt-get install -y -qq --no-install-recommends clang >/dev/null
    fi
    mkdir -p "$out"
    srcs=$(find "$ROOT/common" "$ROOT/helper" -name '*.c' ! -path '*/helper/main.c' | sort)
    for f in "$ROOT"/t/fuzz/fuzz_*.c; do
        name=$(basename "$f" .c)
        case "$which" in all|"$name"|"${name#fuzz_}") ;; *) continue ;; esac
        log "fuzz $name (${FUZZ_SECONDS:-30} s)"
        # shellcheck disable=SC2086
        clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror \
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
            -I"$ROOT/common" -I"$ROOT/helper" -I"$(pg_config --includedir)" \
            -o "$out/$name" "$f" $srcs \
            -lpq -lcjson -lcurl -lzip -lssl -lcrypto -lcrypt -lm -pthread \
            || die "building $name failed"
        mkdir -p "$out/corpus-$name"
        (cd "$out" && "./$name" -max_total_time="${FUZZ_SECONDS:-30}" -print_final_stats=0 \
            "corpus-$name" "$ROOT/t/fuzz/seeds/$name" 2>&1 | tail -2) \
            || die "$name found a crash (see build/fuzz)"
    done
}

# ---------------------------------------------------------------- main
cmd=${1:-}
[ $# -gt 0 ] && shift
for a in "$@"; do [ "$a" = --asan ] && ASAN=1; done

case "$cmd" in
    run) run ;;
    stop) stop "$@" ;;
    test) deps; check_style; test_deps; build; run_tests ;;
    bench) bench "${1:-all}" ;;
    build) deps; build ;;
    module) build_module ;;
    fuzz) fuzz "${1:-all}" ;;
    fmt) fmt ;;
    clean) make -s clean; rm -rf build build-asan ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
