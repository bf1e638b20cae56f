#!/bin/sh
# First start: create the cluster in $PGDATA (empty), with a password for $POSTGRES_USER.
# Every start: run the server in the foreground with the example's config file.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "initdb: cluster created in $PGDATA"
fi
exec postgres -D "$PGDATA" -c config_file=/etc/postgresql-example/postgresql.conf
