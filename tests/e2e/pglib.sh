# A real PostgreSQL server for the factory tests (sourced): Debian's
# PostgreSQL 15 binaries, a fresh cluster in a temporary directory, run as an
# unprivileged user (postgres, or nobody, when the test runs as root), on a free
# loopback port with trust authentication on 127.0.0.1 only. The caller sources
# this file, calls pg_start, and gets PG_URI (and PG_PORT, PG_DIR); the cluster
# is stopped and its directory removed on exit (pg_cleanup, chained into the
# EXIT trap by pg_start). Fault helpers: pg_kill (SIGKILL the server and its
# backends: a crash), pg_stop (a clean stop: the network is gone), pg_freeze /
# pg_thaw (SIGSTOP/SIGCONT: a server that hangs), pg_restart (the same cluster
# on the same port again, after a stop or a kill).
#
#   . tests/e2e/pglib.sh
#   pg_start || exit 77          # SKIP when PostgreSQL is not installed
#   psql "$PG_URI" -c 'select 1'
#   pg_psql 'select count(*) from run'   # -At output, one value a line
#
# PG_BIN overrides the binaries' directory (default /usr/lib/postgresql/15/bin).
# fsync is off: a SIGKILLed server still has its writes in the page cache, and
# the tests need crash recovery, not power-loss durability.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=
PG_PORT=
PG_URI=
PG_RUNAS=
PG_DBNAME=factory
PG_USER=edl

# Run a PostgreSQL binary as the cluster's owner.
pg__as() {
	if [ -n "$PG_RUNAS" ]; then
		runuser -u "$PG_RUNAS" -- "$@"
	else
		"$@"
	fi
}

# A TCP port nobody listens on now (the kernel's pick for a bound socket).
pg__free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

pg__postmaster_pid() {
	[ -f "$PG_DIR/data/postmaster.pid" ] && head -1 "$PG_DIR/data/postmaster.pid"
}

# Wait until the server accepts connections on its port (deadline in seconds).
pg_wait_ready() {
	local deadline=$((SECONDS + ${1:-30}))
	while [ $SECONDS -lt $deadline ]; do
		if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U "$PG_USER"; then
			return 0
		fi
		sleep 0.1
	done
	echo "pglib: PostgreSQL on 127.0.0.1:$PG_PORT not ready after ${1:-30} s (log: $PG_DIR/log)" >&2
	tail -20 "$PG_DIR/log" >&2 2>/dev/null
	return 1
}

# Chain pg_cleanup before the caller's EXIT trap (e.g. its rm -rf of a work dir).
PG__PREV_TRAP=
pg__chain_trap() {
	local prev
	prev=$(trap -p EXIT)
	if [ -n "$prev" ]; then
		eval "set -- $prev"
		PG__PREV_TRAP=$3
	fi
	trap 'pg_cleanup; eval "$PG__PREV_TRAP"' EXIT
}

# Start the cluster (already initialized) on $PG_PORT and wait for it.
pg__launch() {
	pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -s -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DIR/sock" \
		-o "-c fsync=off -c full_page_writes=off -c max_connections=50" start >/dev/null ||
		{
			echo "pglib: pg_ctl start failed (log: $PG_DIR/log)" >&2
			tail -20 "$PG_DIR/log" >&2 2>/dev/null
			return 1
		}
	pg_wait_ready 30
}

# pg_start: a fresh cluster and database "factory"; sets PG_URI and prints it.
# Returns 77 (the SKIP code) when the PostgreSQL binaries are not installed.
pg_start() {
	if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
		echo "SKIP: no PostgreSQL server binaries in $PG_BIN (apt-get install postgresql)" >&2
		return 77
	fi
	if [ "$(id -u)" = 0 ]; then
		if getent passwd postgres >/dev/null; then PG_RUNAS=postgres; else PG_RUNAS=nobody; fi
	fi
	PG_DIR=$(mktemp -d /tmp/edl-pg.XXXXXX) || return 1
	mkdir -p "$PG_DIR/sock"
	[ -n "$PG_RUNAS" ] && chown -R "$PG_RUNAS" "$PG_DIR"
	pg__chain_trap
	pg__as "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --auth=trust --no-sync \
		-E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
		{
			echo "pglib: initdb failed:" >&2
			tail -20 "$PG_DIR/initdb.log" >&2
			return 1
		}
	# Loopback only, trust there; nothing else may connect.
	printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$PG_DIR/data/pg_hba.conf"
	local tries
	for tries in 1 2 3 4 5; do
		PG_PORT=$(pg__free_port) || return 1
		if pg__launch; then break; fi
		PG_PORT=
	done
	[ -n "$PG_PORT" ] || return 1
	pg__as "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DBNAME" || return 1
	PG_URI="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$PG_DBNAME"
	echo "$PG_URI"
}

# A clean, fast stop (connections are cut; the server is unreachable until pg_restart).
pg_stop() {
	[ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ] || return 0
	pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -s -m fast -w -t 30 stop >/dev/null 2>&1
	return 0
}

# A crash: SIGKILL the postmaster and every backend it started, wait until
# they are gone. The next pg_restart runs crash recovery.
pg_kill() {
	local pm kids deadline
	pm=$(pg__postmaster_pid) || return 0
	[ -n "$pm" ] || return 0
	kids=$(ps -o pid= --ppid "$pm" 2>/dev/null)
	# shellcheck disable=SC2086
	kill -KILL "$pm" $kids 2>/dev/null
	deadline=$((SECONDS + 10))
	# shellcheck disable=SC2086
	while kill -0 "$pm" $kids 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	# The dead server's pid file would make pg_ctl warn on the restart.
	kill -0 "$pm" 2>/dev/null || rm -f "$PG_DIR/data/postmaster.pid"
	return 0
}

# A server that hangs (a cut cable, a frozen host): SIGSTOP the postmaster
# and its backends; connections stay open and nothing answers. pg_thaw
# (SIGCONT) lets it go on.
pg__cluster_pids() {
	local pm
	pm=$(pg__postmaster_pid) || return 0
	[ -n "$pm" ] || return 0
	echo "$pm"
	ps -o pid= --ppid "$pm" 2>/dev/null
}
pg_freeze() {
	# shellcheck disable=SC2046
	kill -STOP $(pg__cluster_pids) 2>/dev/null
	return 0
}
pg_thaw() {
	# shellcheck disable=SC2046
	kill -CONT $(pg__cluster_pids) 2>/dev/null
	return 0
}

# The same cluster on the same port again (after pg_stop or pg_kill).
pg_restart() {
	pg__launch
}

# Run SQL on the factory database: unaligned, tuples only, one row a line.
pg_psql() {
	psql -X -q -At -v ON_ERROR_STOP=1 "$PG_URI" -c "$1"
}

# Stop the cluster and remove its directory (the EXIT trap pg_start set; a
# caller with its own EXIT trap calls pg_cleanup from it).
pg_cleanup() {
	[ -n "$PG_DIR" ] || return 0
	pg_thaw
	if [ -d "$PG_DIR/data" ]; then
		pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -s -m immediate -w -t 10 stop >/dev/null 2>&1 || pg_kill
	fi
	rm -rf "$PG_DIR"
	PG_DIR=
}
