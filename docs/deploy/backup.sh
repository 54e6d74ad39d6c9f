#!/bin/sh
# Back up chatapp's database into a folder, keeping the last few days.
#   backup.sh <folder> [days to keep, default 14]
# Reads DATABASE_URL (and CHATAPP_DATA_DIR for the SQLite default) from the environment, as the app does.
#   PostgreSQL: pg_dump --format=custom   -> chatapp-<time>.dump   (restore with pg_restore)
#   SQLite:     sqlite3 .backup (online)  -> chatapp-<time>.db     (restore by copying it back, app stopped)
# chatapp-backup.service runs it daily (chatapp-backup.timer); tests/scale runs it against both databases.
set -eu

folder=${1:?usage: backup.sh <folder> [days to keep]}
keep=${2:-14}
stamp=$(date -u +%Y%m%d-%H%M%S)
url=${DATABASE_URL:-}
umask 077
mkdir -p "$folder"

case "$url" in
postgresql*)
    # pg_dump speaks libpq URLs: drop SQLAlchemy's driver name (+asyncpg, +psycopg)
    libpq_url=$(printf '%s' "$url" | sed -E 's#^postgresql\+[A-Za-z0-9_]+://#postgresql://#')
    target="$folder/chatapp-$stamp.dump"
    pg_dump --format=custom --no-owner --file="$target.partial" "$libpq_url"
    ;;
sqlite* | "")
    if [ -n "$url" ]; then
        database=$(printf '%s' "$url" | sed -E 's#^sqlite(\+[A-Za-z0-9_]+)?:///##')
    else
        database="${CHATAPP_DATA_DIR:-data}/chatapp.db"
    fi
    [ -f "$database" ] || { echo "backup.sh: no SQLite database at $database" >&2; exit 1; }
    target="$folder/chatapp-$stamp.db"
    sqlite3 "$database" ".backup '$target.partial'"
    ;;
*)
    echo "backup.sh: DATABASE_URL is neither postgresql nor sqlite" >&2
    exit 2
    ;;
esac

mv "$target.partial" "$target"
find "$folder" -maxdepth 1 -name 'chatapp-*' -type f -mtime +"$keep" -delete
echo "$target"
