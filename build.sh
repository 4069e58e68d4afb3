#!/usr/bin/env bash
# Ferry's one entry point.
#   ./build.sh run            install deps, build, start PostgreSQL + ferryd + nginx on 127.0.0.1:8080
#   ./build.sh stop           stop what `run` started
#   ./build.sh test [--asan]  build, then every unit and integration test
#   ./build.sh bench [NAME]   benchmarks, each beside its baseline from the same run
#   ./build.sh build [--asan] build ferryd, the unit tests and the nginx module only
#   ./build.sh clean          remove build output (not ./var)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
NGINX_SRC=${NGINX_SRC:-/usr/share/nginx/src}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
VAR=$ROOT/var
PORT=${FERRY_PORT:-8080}
ASAN=0

DEB_PKGS=(nginx nginx-dev libpq-dev libcjson-dev libcurl4-openssl-dev libcmocka-dev
          libssl-dev libcrypt-dev postgresql postgresql-contrib wrk curl jq make gcc
          libpcre2-dev zlib1g-dev libjson-pp-perl)

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
    make -s -C "$src" -j"$(nproc)" modules >"$b/nginx-make.log" 2>&1 \
        || { grep -E 'error|Error' "$b/nginx-make.log" | head -40; die "module build failed"; }
    cp "$src/objs/ngx_http_ferry_module.so" "$b/ngx_http_ferry_module.so"
}

build() {
    build_helper
    build_module
    log "built $(build_dir)/ferryd and $(build_dir)/ngx_http_ferry_module.so"
}

# ---------------------------------------------------------------- main
cmd=${1:-}
[ $# -gt 0 ] && shift
for a in "$@"; do [ "$a" = --asan ] && ASAN=1; done

case "$cmd" in
    build) deps; build ;;
    clean) make -s clean; rm -rf build build-asan ;;
    *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
