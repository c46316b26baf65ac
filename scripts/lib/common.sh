# Shared by scripts/run, scripts/test, scripts/bench, scripts/fault_suite and scripts/fuzz:
# Debian packages, the build, a throwaway MariaDB, a region of services. Source it; it defines
# functions only (and BLOODGRID_ROOT).
BLOODGRID_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Debian 12 packages the build, the tests and the run need.
BLOODGRID_PACKAGES=(
  cmake ninja-build g++ ccache pkg-config clang libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libmysqlcppconn-dev libgtest-dev libgmock-dev libssl-dev libglpk-dev
  mariadb-server mariadb-client
  python3-grpcio python3-grpc-tools python3-protobuf
)

log() { printf '[bloodgrid] %s\n' "$*" >&2; }

# Installs whichever of BLOODGRID_PACKAGES is missing (apt-get only when something is).
ensure_packages() {
  local missing=()
  for p in "${BLOODGRID_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  log "installing missing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  # Installing mariadb-server must not start a system server: we run our own.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# configure_tree DIR [cmake arguments...]: configures DIR (Release, -Werror unless the arguments
# say otherwise).
configure_tree() {
  local dir="$1"; shift
  cmake -S "$BLOODGRID_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBLOODGRID_WERROR=ON "$@" >/dev/null
}

# build_tree DIR [cmake arguments...]: configures (Release, -Werror) and builds everything into
# DIR.
build_tree() {
  local dir="$1"; shift
  configure_tree "$dir" "$@"
  cmake --build "$dir" -j "${BLOODGRID_JOBS:-$(nproc)}"
}

# build_unit_tests DIR [cmake arguments...]: configures DIR and builds only the unit tests (the
# bloodgrid_unit_tests target).
build_unit_tests() {
  local dir="$1"; shift
  configure_tree "$dir" "$@"
  cmake --build "$dir" -j "${BLOODGRID_JOBS:-$(nproc)}" --target bloodgrid_unit_tests
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# mariadb_start DATADIR PORT: a private MariaDB in DATADIR on 127.0.0.1:PORT, in the
# background; MARIADB_EXTRA_ARGS (word-split) are added to its command line. Sets MARIADB_PID
# and MARIADB_SOCKET. Creates an admin account bloodgrid_admin/$MARIADB_ADMIN_PASSWORD for TCP
# use.
mariadb_start() {
  local datadir="$1" port="$2"
  mkdir -p "$datadir"
  datadir="$(cd "$datadir" && pwd)"
  if [ ! -d "$datadir/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$datadir" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$datadir/install.log" 2>&1 ||
      { cat "$datadir/install.log" >&2; return 1; }
  fi
  MARIADB_SOCKET="$datadir/mysqld.sock"
  MARIADB_DATADIR="$datadir"
  mariadbd --no-defaults --datadir="$datadir" --socket="$MARIADB_SOCKET" --port="$port" \
    --bind-address=127.0.0.1 --pid-file="$datadir/mysqld.pid" --log-error="$datadir/err.log" \
    --user="$(id -un)" --skip-name-resolve --innodb-buffer-pool-size=256M \
    --max-connections=400 --innodb-flush-log-at-trx-commit=1 ${MARIADB_EXTRA_ARGS:-} &
  MARIADB_PID=$!
  local i
  for i in $(seq 1 300); do
    if mariadb-admin --no-defaults --socket="$MARIADB_SOCKET" -uroot ping >/dev/null 2>&1; then
      break
    fi
    if ! kill -0 "$MARIADB_PID" 2>/dev/null; then
      log "MariaDB exited during start-up:"; tail -20 "$datadir/err.log" >&2; return 1
    fi
    sleep 0.1
  done
  MARIADB_ADMIN_PASSWORD="${MARIADB_ADMIN_PASSWORD:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
  mariadb_sql "CREATE USER IF NOT EXISTS 'bloodgrid_admin'@'127.0.0.1' IDENTIFIED BY '$MARIADB_ADMIN_PASSWORD';
    ALTER USER 'bloodgrid_admin'@'127.0.0.1' IDENTIFIED BY '$MARIADB_ADMIN_PASSWORD';
    GRANT ALL PRIVILEGES ON *.* TO 'bloodgrid_admin'@'127.0.0.1' WITH GRANT OPTION;"
  log "MariaDB pid $MARIADB_PID listening on 127.0.0.1:$port"
}

# Runs SQL as root over the socket.
mariadb_sql() {
  mariadb --no-defaults --socket="$MARIADB_SOCKET" -uroot -e "$1"
}

# mariadb_create_service_schema SCHEMA USER PASSWORD: the schema and a user with rights on it only.
mariadb_create_service_schema() {
  local schema="$1" user="$2" password="$3"
  mariadb_sql "CREATE DATABASE IF NOT EXISTS \`$schema\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$password';
    ALTER USER '$user'@'127.0.0.1' IDENTIFIED BY '$password';
    GRANT ALL PRIVILEGES ON \`$schema\`.* TO '$user'@'127.0.0.1';"
}

# Stops the server started by mariadb_start and waits for its PID to go away.
mariadb_stop() {
  [ -n "${MARIADB_PID:-}" ] || return 0
  if kill -0 "$MARIADB_PID" 2>/dev/null; then
    kill -TERM "$MARIADB_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do
      kill -0 "$MARIADB_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$MARIADB_PID" 2>/dev/null || true
  fi
  wait "$MARIADB_PID" 2>/dev/null || true
  MARIADB_PID=""
}

# region_start BUILD_DIR RUN_DIR DB_PORT GATEWAY_PORT TOKENS POLICY [gateway flags...]
# On the MariaDB started by mariadb_start: one schema and one user per service (rights on its
# own schema only), then the three services on GATEWAY_PORT+1..3 and the gateway on
# GATEWAY_PORT, logs in RUN_DIR/logs. TOKENS is a file of lines "role subject token"; the
# gateway gets only their sha256. Services that are not built are skipped. Sets the arrays
# REGION_PIDS (service -> pid) and REGION_PORTS (service -> port), and appends to PIDS.
region_start() {
  local build_dir="$1" run_dir="$2" db_port="$3" gateway_port="$4" tokens="$5" policy="$6"
  shift 6
  mkdir -p "$run_dir/secrets" "$run_dir/logs"
  chmod 700 "$run_dir/secrets"
  declare -gA REGION_PIDS=() REGION_PORTS=(
    [gateway]="$gateway_port" [donor]=$((gateway_port + 1)) [inventory]=$((gateway_port + 2))
    [request]=$((gateway_port + 3)))
  local svc password
  for svc in donor inventory request; do
    password="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    printf '%s\n' "$password" >"$run_dir/secrets/${svc}_db_password"
    mariadb_create_service_schema "$svc" "${svc}_svc" "$password"
  done
  {
    echo "# sha256(token) role subject"
    local role subject token
    while read -r role subject token; do
      case "$role" in ''|'#'*) continue ;; esac
      printf '%s %s %s\n' "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" "$role" "$subject"
    done <"$tokens"
  } >"$run_dir/secrets/gateway_tokens"
  local bin extra
  for svc in donor inventory request; do
    bin="$build_dir/${svc}_service/${svc}_service"
    if [ ! -x "$bin" ]; then log "$svc service is not built; skipping"; continue; fi
    extra=()
    # The donor service reads the inventory's change feed; it starts first and waits for it.
    [ "$svc" != inventory ] && extra=(--inventory_target="127.0.0.1:${REGION_PORTS[inventory]}")
    "$bin" --port="${REGION_PORTS[$svc]}" --db_host=127.0.0.1 --db_port="$db_port" \
      --db_name="$svc" --db_user="${svc}_svc" \
      --db_password_file="$run_dir/secrets/${svc}_db_password" --policy_file="$policy" \
      "${extra[@]}" >"$run_dir/logs/$svc.log" 2>&1 &
    REGION_PIDS[$svc]=$!
    PIDS+=($!)
  done
  bin="$build_dir/gateway/gateway"
  if [ ! -x "$bin" ]; then log "gateway is not built; skipping"; return 0; fi
  "$bin" --port="$gateway_port" --tokens_file="$run_dir/secrets/gateway_tokens" \
    --donor_target="127.0.0.1:${REGION_PORTS[donor]}" \
    --inventory_target="127.0.0.1:${REGION_PORTS[inventory]}" \
    --request_target="127.0.0.1:${REGION_PORTS[request]}" "$@" \
    >"$run_dir/logs/gateway.log" 2>&1 &
  REGION_PIDS[gateway]=$!
  PIDS+=($!)
}

