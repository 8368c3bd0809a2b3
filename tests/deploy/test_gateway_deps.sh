#!/usr/bin/env bash
# api-gateway links no SQLite and no generator engine (issue 14): it has no
# database, so libsqlite3 is not among its dynamic dependencies and none of
# sqlite3_*, genloop_*, daemon_run or db_* is in the binary. Its signal
# set-up comes from common/signals.c, not common/daemon.c, and the engine
# is a library of its own (bmengine) that only the services link. A
# service binary is checked the same way and must show SQLite, so the
# check is known to see it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GW=$BIN/api-gateway
SVC=$BIN/transaction-service
[[ -x "$GW" ]] || skip "$GW is not built"
for tool in ldd nm; do
    command -v "$tool" >/dev/null || skip "$tool missing"
done

# engine_symbols FILE : symbols of SQLite or of the service engine in it.
engine_symbols() {
    nm "$1" 2>/dev/null | awk '{ print $NF }' |
        grep -E '^(sqlite3_|genloop_|daemon_(run|h_|install_signals|wait_for_signal)|db_(open|reader|close|exec|begin|commit|list_events|insert_event))'
}

gw_ldd=$(ldd "$GW" 2>&1)
lacks "api-gateway: libsqlite3 is not a dynamic dependency" "$gw_ldd" libsqlite3
gw_syms=$(engine_symbols "$GW")
if [[ -z "$gw_syms" ]]; then
    pass "api-gateway: no sqlite3, genloop, daemon or db symbol"
else
    failure "api-gateway: no sqlite3, genloop, daemon or db symbol" "$gw_syms"
fi
if [[ -x "$SVC" ]]; then
    contains "transaction-service: libsqlite3 is a dynamic dependency (the check sees it)" \
        "$(ldd "$SVC" 2>&1)" libsqlite3
    check "transaction-service: sqlite3 and genloop symbols found (the check sees them)" \
        bash -c "nm '$SVC' | grep -q ' U sqlite3_open' && nm '$SVC' | grep -q ' T genloop_'"
fi
finish
