#!/usr/bin/env bash
# The whole suite in two lanes at once: the tests that need the machine's one drill lab
# (marker `lab`, set in tests/conftest.py) run one after another, as they must; all the
# others (unit tests, and integration tests with their own servers on free ports and in
# their own temporary directories) run beside them. The lab lane spends most of its time
# waiting on timeouts and probes, so the two share 2 cores well. The other lane runs in
# two workers (pytest-xdist, a test file per worker at a time so a file's servers start
# once): alone it was 28 of CI's 30 minutes, much of it waiting on servers and
# subprocesses. Exit status: non-zero if either lane failed. Extra arguments go to both
# pytest runs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
pytest=.venv/bin/pytest
logs=$(mktemp -d /tmp/dr-tests.XXXXXX)
trap 'rm -rf "$logs"' EXIT

"$pytest" -q -p no:cacheprovider -m "not lab" -n 2 --dist loadfile --durations=25 --basetemp="$logs/tmp-other" "$@" \
  >"$logs/other.log" 2>&1 &
other=$!
# Both lanes list their slowest tests: the lanes' length is what keeps CI in time.
"$pytest" -q -p no:cacheprovider -m lab -rxX --durations=15 --basetemp="$logs/tmp-lab" "$@"
lab_status=$?
wait "$other"
other_status=$?

echo
echo "---- tests without the lab (ran alongside) ----"
cat "$logs/other.log"
echo
echo "lab lane: exit $lab_status; other lane: exit $other_status"
[ "$lab_status" -eq 0 ] && [ "$other_status" -eq 0 ]
