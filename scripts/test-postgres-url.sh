#!/usr/bin/env bash
# Print a PostgreSQL URL the tests may use to create and drop their own databases.
# A role `studio_test` (CREATEDB) gets a fresh random password on every run: nothing is hard-coded,
# and it works with trust, md5 or scram-sha-256 authentication alike.
set -euo pipefail
password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
sql="DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'studio_test') THEN
    CREATE ROLE studio_test LOGIN CREATEDB;
  END IF;
END\$\$;
ALTER ROLE studio_test WITH LOGIN CREATEDB PASSWORD '${password}';"
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
  su postgres -c "psql -q -X -v ON_ERROR_STOP=1 -d postgres" <<<"$sql" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
  sudo -u postgres psql -q -X -v ON_ERROR_STOP=1 -d postgres <<<"$sql" >/dev/null
else
  echo "[setup] cannot create the studio_test role: run as root or with sudo" >&2; exit 1
fi
echo "postgresql+psycopg://studio_test:${password}@127.0.0.1:5432/postgres"
