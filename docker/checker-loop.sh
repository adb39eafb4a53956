#!/bin/sh
# checker-loop COMMAND [ARG...]
#
# Runs COMMAND (srvmon-checker) at the start of every interval of
# SRVMON_CHECKS_INTERVAL seconds (60 by default), as a crontab line would:
# within a second after each boundary, never before it, so that each round
# lands in the slot that begins there. A round still running at the next
# boundary makes that boundary skip. SIGTERM (docker stop) is passed on to
# the round in flight, which finishes and stores its results; then the
# loop exits 0. POSIX sh: busybox's sh, date and sleep are enough.
set -u

interval=${SRVMON_CHECKS_INTERVAL:-60}
case $interval in
'' | *[!0-9]* | 0 | 0*)
	echo "checker-loop: SRVMON_CHECKS_INTERVAL=$interval: want a whole number of seconds above 0" >&2
	exit 2
	;;
esac
if [ $# -eq 0 ]; then
	echo "usage: checker-loop COMMAND [ARG...]" >&2
	exit 2
fi

stopping=
child=
on_signal() {
	stopping=1
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
	fi
}
trap on_signal TERM INT

# run starts its arguments in the background and waits until they end:
# wait returns early when a trapped signal arrives, so the shell reacts at
# once and keeps waiting for the child. It returns the child's status.
run() {
	"$@" &
	child=$!
	if [ -n "$stopping" ]; then
		kill -TERM "$child" 2>/dev/null
	fi
	while :; do
		wait "$child"
		status=$?
		kill -0 "$child" 2>/dev/null || break
	done
	child=
	return "$status"
}

while [ -z "$stopping" ]; do
	now=$(date +%s)
	run sleep $((interval - now % interval))
	[ -n "$stopping" ] && break
	run "$@" || echo "checker-loop: $1 exited with status $?" >&2
done
exit 0
