#!/bin/sh
# start.sh MPM PORT [DIR]: start Apache 2.4 (Debian's apache2 binary) with
# mpm.conf.tmpl under MPM (event or worker) on 127.0.0.1:PORT, in the
# foreground of a background job; prints the parent's pid. Stop it with
# `kill -TERM PID` (a graceful-less stop; Apache reaps its children).
set -eu
mpm=$1 port=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=${3:-$(mktemp -d /tmp/mpmlab-apache-$mpm.XXXXXX)}
user=$(id -un)
[ "$(id -u)" = 0 ] && user=www-data
chmod 755 "$dir"
sed -e "s|{{.Dir}}|$dir|g" -e "s|{{.Port}}|$port|g" -e "s|{{.Lua}}|$here/block.lua|g" \
    -e "s|{{.MPM}}|$mpm|g" -e "s|{{.User}}|$user|g" "$here/mpm.conf.tmpl" >"$dir/httpd.conf"
apache2 -t -f "$dir/httpd.conf" >/dev/null 2>&1 || { apache2 -t -f "$dir/httpd.conf"; exit 1; }
apache2 -f "$dir/httpd.conf" -DFOREGROUND >"$dir/stdout.log" 2>&1 &
echo $!
