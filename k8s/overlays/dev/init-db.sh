#!/bin/sh
# Creates the three BloodGrid schemas and one database user per service, each with rights on its
# own schema only. Idempotent: a re-run changes nothing but resetting each user's password to
# the value in its Secret. Runs in the mariadb:10.11 image as the bloodgrid-init-db Job.
# Environment: DB_HOST, DB_PORT, MYSQL_PWD (root's password, read by the mariadb client),
# {DONOR,INVENTORY,REQUEST}_DB_{USER,PASSWORD}.
set -eu

# A value as the body of a single-quoted SQL string literal.
sql_string() {
  printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g"
}

# User names go into SQL unquoted by the client: accept only [A-Za-z0-9_].
check_user() {
  case "$1" in
    '' | *[!A-Za-z0-9_]*)
      echo "init-db: refusing database user name '$1'" >&2
      exit 1
      ;;
  esac
}

schema_sql() { # schema user password
  check_user "$2"
  pw=$(sql_string "$3")
  cat <<SQL
CREATE DATABASE IF NOT EXISTS \`$1\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$2'@'%' IDENTIFIED BY '$pw';
ALTER USER '$2'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON \`$1\`.* TO '$2'@'%';
SQL
}

echo "init-db: waiting for ${DB_HOST}:${DB_PORT}"
tries=0
until mariadb --host="$DB_HOST" --port="$DB_PORT" --user=root --execute='SELECT 1' >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 150 ]; then
    echo "init-db: ${DB_HOST}:${DB_PORT} did not answer in 5 minutes" >&2
    exit 1
  fi
  sleep 2
done

{
  schema_sql donor "$DONOR_DB_USER" "$DONOR_DB_PASSWORD"
  schema_sql inventory "$INVENTORY_DB_USER" "$INVENTORY_DB_PASSWORD"
  schema_sql request "$REQUEST_DB_USER" "$REQUEST_DB_PASSWORD"
  echo 'FLUSH PRIVILEGES;'
} | mariadb --host="$DB_HOST" --port="$DB_PORT" --user=root

echo "init-db: schemas donor, inventory, request and their users are ready"
