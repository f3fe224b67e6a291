# Shared by the harness scripts: where PostgreSQL is, how to run its server
# binaries as a non-root user, and how to start/stop a throwaway cluster.
# Sourced, not executed.

export PATH="$HOME/.cargo/bin:$PATH"

PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
PGRX_VERSION=0.18.1

die() { echo "error: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# PostgreSQL refuses to run as root: when we are root, server-side commands
# run as the `postgres` OS user (created by Debian's postgresql packages).
as_pg() {
    if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() { "$PG_CONFIG" --bindir; }

# cluster_start DATADIR SOCKDIR PORT [extra postgres -c settings...]
# Creates a fresh cluster in DATADIR (removing any previous one there) and
# starts it listening only on a unix socket in SOCKDIR.
cluster_start() {
    local data=$1 sock=$2 port=$3; shift 3
    local bin; bin=$(pg_bindir)
    cluster_stop "$data"
    rm -rf "$data" "$sock"
    mkdir -p "$data" "$sock"
    if is_root; then chown postgres: "$data" "$sock"; fi
    chmod 700 "$data"
    as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >"$data.initdb.log" 2>&1 ||
        { cat "$data.initdb.log" >&2; die "initdb failed in $data"; }
    local opts="-k $sock -p $port -c listen_addresses='' -c fsync=off"
    local s
    for s in "$@"; do opts="$opts -c $s"; done
    # Without RUST_BACKTRACE: a Rust backtrace would be appended to the
    # errors that pass through the extension, and the tests compare them.
    as_pg env -u RUST_BACKTRACE "$bin/pg_ctl" -D "$data" -o "$opts" -l "$data/server.log" -w start >/dev/null ||
        { cat "$data/server.log" >&2; die "could not start PostgreSQL in $data"; }
}

# cluster_stop DATADIR: stops the cluster there if one is running.
cluster_stop() {
    local data=$1
    [ -f "$data/postmaster.pid" ] || return 0
    as_pg "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# A directory the postgres OS user can use: DEFAULT when it can reach it
# (the checkout may sit under a home directory it cannot enter), FALLBACK otherwise.
pg_usable_dir() {
    local want=$1 fallback=$2
    mkdir -p "$want"
    if is_root; then chown postgres: "$want"; fi
    if as_pg test -w "$want" 2>/dev/null; then echo "$want"; else
        rmdir "$want" 2>/dev/null || true
        echo "$fallback"
    fi
}

# throwaway NAME PORT: sets PORT, SOCK (a short unix-socket directory) and
# DIR (under target/, or under /tmp when the postgres user cannot reach the
# checkout) for the throwaway cluster called NAME.
throwaway() {
    PORT=$2
    SOCK=/tmp/auth_sessions_$1.$PORT
    DIR=$(pg_usable_dir "$PWD/target/$1" "/tmp/auth_sessions_$1_cluster.$PORT")
}

# alloc_port [COUNT]: the first of COUNT consecutive ports that no other
# running test holds, now held by this script (its PID, $$) until it ends.
# Every test layer takes its ports here, so concurrent runs (two majors, a
# CI checkout beside a working copy) never share a port or a socket
# directory. A port is held by making /tmp/auth_sessions_ports/PORT (mkdir
# is atomic) with the holder's PID inside; a holder that has ended frees it.
# TEST_PORT_BASE (default 54310) is where the search starts.
alloc_port() {
    local count=${1:-1} dir=/tmp/auth_sessions_ports port=${TEST_PORT_BASE:-54310} i
    mkdir -p "$dir"
    while [ "$port" -lt 65000 ]; do
        for ((i = 0; i < count; i++)); do
            hold_port "$dir" $((port + i)) || break
        done
        if [ "$i" -eq "$count" ]; then echo "$port"; return 0; fi
        # Give back the ones taken, and try after the one that is held.
        for ((; i > 0; i--)); do rm -rf "${dir:?}/$((port + i - 1))"; done
        port=$((port + 1))
    done
    die "alloc_port: no $count free ports from ${TEST_PORT_BASE:-54310}"
}

# hold_port DIR PORT: takes PORT for this script unless a live process holds it.
hold_port() {
    local held=$1/$2 pid
    if ! mkdir "$held" 2>/dev/null; then
        pid=$(cat "$held/pid" 2>/dev/null || true)
        if [ -n "$pid" ] && { [ "$pid" = $$ ] || kill -0 "$pid" 2>/dev/null; }; then return 1; fi
        # Its holder has ended: take it over.
        rm -rf "$held"
        mkdir "$held" 2>/dev/null || return 1
    fi
    echo $$ >"$held/pid"
}

# Install the extension (built in the dev profile unless PROFILE=release)
# into the server that $PG_CONFIG names.
install_extension() {
    local args=(--pg-config "$PG_CONFIG")
    [ "${PROFILE:-dev}" = release ] && args+=(--release)
    is_root || args+=(--sudo)
    cargo pgrx install "${args[@]}"
    install_attach_mode
    install_released_scripts
}

# The released versions' install scripts and the upgrade scripts, committed
# under sql/ for both extension names: all of them but the current version's
# install script, which the build generates (scripts/check-releases.sh checks
# that a released version's committed script is what its build generated).
install_released_scripts() {
    local ext version f sudo=()
    ext="$("$PG_CONFIG" --sharedir)/extension"
    version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
    is_root || sudo=(sudo)
    for f in sql/auth_sessions--*.sql sql/auth_sessions_gotrue--*.sql; do
        [ -e "$f" ] || continue
        case "$(basename "$f")" in
            "auth_sessions--$version.sql" | "auth_sessions_gotrue--$version.sql") continue ;;
        esac
        "${sudo[@]}" cp "$f" "$ext/"
    done
}

# The second extension over the same library and script (attach mode, see
# README "Modes"): its control file, and the install script pgrx generated
# for auth_sessions under its name.
install_attach_mode() {
    local ext version sudo=()
    ext="$("$PG_CONFIG" --sharedir)/extension"
    version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
    is_root || sudo=(sudo)
    [ -f "$ext/auth_sessions--$version.sql" ] || die "auth_sessions--$version.sql is not in $ext"
    sed "s/@CARGO_VERSION@/$version/" sql/auth_sessions_gotrue.control | "${sudo[@]}" tee "$ext/auth_sessions_gotrue.control" >/dev/null
    "${sudo[@]}" cp "$ext/auth_sessions--$version.sql" "$ext/auth_sessions_gotrue--$version.sql"
}

# debian_suite MAJOR: the Debian suite whose packages have PostgreSQL MAJOR
# (15: bookworm, 17: trixie, 18: forky); empty for another.
debian_suite() {
    case "$1" in 15) echo bookworm ;; 17) echo trixie ;; 18) echo forky ;; *) echo "" ;; esac
}

# debootstrap_minbase SUITE DIR: a minimal root filesystem of SUITE in DIR
# (replacing whatever was there), from $DEBIAN_MIRROR (default Debian's),
# installing debootstrap first when missing. Needs root.
debootstrap_minbase() {
    local suite=$1 dir=$2 mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian} script=()
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    log "making a $suite root filesystem in $dir (debootstrap, from $mirror)"
    rm -rf "$dir"; mkdir -p "$dir"
    # An older debootstrap has no script for a newer suite: sid's serves
    # (testing and unstable are laid out alike).
    [ -e "/usr/share/debootstrap/scripts/$suite" ] || script=(/usr/share/debootstrap/scripts/sid)
    debootstrap --variant=minbase "$suite" "$dir" "$mirror" "${script[@]}" >"$dir.debootstrap.log" 2>&1 ||
        { tail -20 "$dir.debootstrap.log" >&2; die "debootstrap $suite failed"; }
}
