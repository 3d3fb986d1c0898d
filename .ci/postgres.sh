# Sourced by .ci/run: start a throwaway PostgreSQL server on 127.0.0.1 for the registry's PostgreSQL
# tests and export KOHYA_WRAP_TEST_PG_URL. Uses the OS packages (installs them with apt-get when
# missing and allowed). Never fails the CI run itself: without a server those tests skip and say so.

_kw_pg_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_kw_pg_start() {
  if [ -n "${KOHYA_WRAP_TEST_PG_URL:-}" ]; then
    echo "postgres.sh: using KOHYA_WRAP_TEST_PG_URL from the environment"
    return 0
  fi
  local bindir
  bindir="$(_kw_pg_bindir)"
  if [ -z "$bindir" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: installing postgresql from the OS packages"
    (timeout 300 apt-get install -y -q postgresql >/dev/null 2>&1 \
      || { timeout 120 apt-get update -q >/dev/null 2>&1 \
           && timeout 300 apt-get install -y -q postgresql >/dev/null 2>&1; }) || true
    bindir="$(_kw_pg_bindir)"
  fi
  if [ -z "$bindir" ]; then
    echo "postgres.sh: no PostgreSQL server available; the PostgreSQL registry tests will skip"
    return 0
  fi
  local as=() datadir port
  datadir="$(mktemp -d /tmp/kw-pg.XXXXXX)"
  if [ "$(id -u)" = 0 ]; then
    # The server refuses to run as root.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$datadir"
    as=(runuser -u postgres --)
  fi
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  if "${as[@]}" "$bindir/initdb" -D "$datadir/data" -U kw --auth=trust -E UTF8 >"$datadir/initdb.log" 2>&1 \
    && "${as[@]}" "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w -t 60 \
         -o "-c listen_addresses=127.0.0.1 -p $port -k $datadir -c fsync=off" start >/dev/null \
    && "$bindir/createdb" -h 127.0.0.1 -p "$port" -U kw kw_test; then
    export KOHYA_WRAP_TEST_PG_URL="postgresql://kw@127.0.0.1:$port/kw_test"
    KW_PG_STOP=("${as[@]}" "$bindir/pg_ctl" -D "$datadir/data" -m fast stop)
    KW_PG_DIR="$datadir"
    trap '"${KW_PG_STOP[@]}" >/dev/null 2>&1 || true; rm -rf "$KW_PG_DIR"' EXIT
    echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
  else
    echo "postgres.sh: could not start PostgreSQL (see $datadir); the PostgreSQL registry tests will skip"
  fi
}

_kw_pg_start
