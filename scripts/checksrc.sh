#!/usr/bin/env bash
# Static checks of the C sources (STYLE.md §2); the suite runs it first.
#
#   scripts/checksrc.sh            # scan common/ services/ gateway/ generate/ tests/ bench/
#   scripts/checksrc.sh PATH...    # scan these files or directories (paths from the root)
#
# Function definitions are found in the project's layout: the signature from
# column 0, the body's braces alone at column 0.
#
# Errors (exit 1):
#   banned   a banned call (rule 10): sprintf, strcpy, atoi, gmtime, rand, ...
#   guard    a header's guard is not BM_<PATH>_H: its path from the root,
#            upper case, '/' and '.' as '_' (common/buf.h: BM_COMMON_BUF_H,
#            gateway/poller.h: BM_GATEWAY_POLLER_H, services/auth/auth.h:
#            BM_SERVICES_AUTH_AUTH_H); #ifndef and #define on its first two
#            directives, #endif last
#   prefix   a non-static function without its module's prefix (rule 1): a
#            common/<name>.c exports <name>_..., a service its own (txn_, auth_,
#            mon_), the gateway gw_, the integration harness h_; the table in
#            prefixes() lists the modules whose prefix is not their file name.
#            main and LLVMFuzzerTestOneInput are always allowed; files with no
#            entry (tests, bench) may export nothing else
#   strto    an unchecked strto*() anywhere (NULL or 0 as the end pointer),
#            and any strto*() in common/, services/ or gateway/ outside
#            common/parse.c (use parse_i64() and friends)
#   stderr   in common/, services/ and gateway/, output to stderr (fprintf,
#            vfprintf, fputs, perror) outside the start-up code that runs
#            before the logger does: */main.c, common/cli.c, common/daemon.c
#            and gateway/gateway.c (the gateway's start and stop).
#            Everything after start-up goes through log_emit() (rule 21)
# Warnings (reported, exit 0):
#   long     a function body over 100 lines (rule 22)
#
# Comments, string and character literals are blanked before the checks, and
# #define/#undef lines are skipped by the banned check, so a git-style
# banned.h may name them.
set -euo pipefail

BANNED='sprintf|vsprintf|strcpy|strncpy|strcat|strncat|strtok|atoi|atol|atof|gmtime|localtime|ctime|asctime|rand'
LONG_FUNCTION=100

# CHECKSRC_ROOT: the tree to check (default: this checkout; tests point it
# at fixtures).
cd "${CHECKSRC_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}"
if (($# > 0)); then
    roots=("$@")
else
    roots=()
    for d in common services gateway generate tests bench; do
        [[ -d "$d" ]] && roots+=("$d")
    done
fi

files=()
if ((${#roots[@]} > 0)); then
    mapfile -t files < <(find "${roots[@]}" -type f \( -name '*.c' -o -name '*.h' \) \
        -not -path '*/corpus/*' | sed 's|^\./||' | LC_ALL=C sort)
fi
if ((${#files[@]} == 0)); then
    echo "checksrc: no C sources to scan"
    exit 0
fi

# shellcheck disable=SC2016 # awk program: its $ are awk's
report=$(awk -v banned="$BANNED" -v long_max="$LONG_FUNCTION" '
# The prefixes a module may export ("a_|b_"); "" = only main and
# LLVMFuzzerTestOneInput; "*" = anything (not checked).
function prefixes(path,    base) {
    base = path; sub(/.*\//, "", base); sub(/\.[ch]$/, "", base)
    if (path == "common/anomaly.c") return "anom_"
    if (path == "common/api_errors.c") return "api_"
    if (path == "common/config.c") return "cfg_"
    if (path == "common/http_client.c") return "hc_|http_client_"
    if (path == "common/http_server.c") return "http_"
    if (path == "common/incident.c") return "inc_"
    if (path == "common/rc.c") return "bm_"
    if (path == "common/timefmt.c") return "timefmt_|time_"
    if (path == "common/svc.c") return "svc_"
    if (path == "common/signals.c") return "signals_|sig_"
    if (path == "common/shaping.c") return "shaping_|shape_"
    if (path == "common/endpoints.c") return "endpoints_|ep_"
    if (path ~ /^common\//) return base "_"
    if (path ~ /\/main\.c$/) return ""
    if (path ~ /^services\/transaction\//) return "txn_"
    if (path ~ /^services\/auth\//) return "auth_"
    if (path ~ /^services\/monitoring\//) return "mon_"
    if (path ~ /^(services\/)?gateway\//) return "gw_"
    if (path ~ /^generate\//) return base "_"
    if (path ~ /^tests\/integration\/harness[^\/]*\.c$/) return "h_"
    if (path == "tests/integration/faultfs.c") return "*"  # interposes libc names
    if (path == "tests/fuzz/support.c") return "fuzz_"
    return ""
}

function daemon_tree(path) { return path ~ /^(common|services|gateway|generate)\// }

function may_print_stderr(path) {
    return path ~ /\/main\.c$/ || path == "common/cli.c" || path == "common/daemon.c" ||
        path == "gateway/gateway.c"
}

function guard_of(path,    g) {
    g = toupper(path); gsub(/[\/.]/, "_", g)
    return "BM_" g
}

function err(rule, msg) {
    printf "%s:%d: error: %s: %s\n", FILENAME, FNR, rule, msg
}

# The name a signature defines, and whether it is static.
function sig_parse(sig,    s, n, w) {
    s = sig
    while (s ~ /^__attribute__[ \t]*\(\(/)    # __attribute__((...)) before the type
        sub(/^__attribute__[ \t]*\(\([^)]*\)\)[ \t]*/, "", s)
    sig_static = s ~ /^(static|inline)[ \t]/
    sub(/\(.*/, "", s); n = split(s, w, /[ \t*]+/)
    return w[n]
}

function check_exported(name, line,    allowed, k, pre, ok, i) {
    allowed = prefixes(FILENAME)
    if (allowed == "*" || name == "main" || name == "LLVMFuzzerTestOneInput") return
    ok = 0
    k = split(allowed, pre, "|")
    for (i = 1; i <= k; i++) if (pre[i] != "" && index(name, pre[i]) == 1) ok = 1
    if (!ok)
        printf "%s:%d: error: prefix: %s() is exported without its module prefix (%s)\n",
            FILENAME, line, name, allowed == "" ? "this file may export only main" : allowed
}

function end_file() {
    if (cur_file ~ /\.h$/ && !guard_seen)
        printf "%s:1: error: guard: no #ifndef %s guard\n", cur_file, guard_of(cur_file)
    else if (cur_file ~ /\.h$/ && last_directive !~ /^#[ \t]*endif/)
        printf "%s:%d: error: guard: the last directive is not the guard'"'"'s #endif\n", cur_file, last_dir_line
}

FNR == 1 {
    if (NR > 1) end_file()
    cur_file = FILENAME
    in_comment = 0; directives = 0; guard_seen = 0; sig = ""; fn_start = 0
    last_directive = ""; last_dir_line = 0
}

{
    # Blank comments and literals; keep the line length.
    line = $0; out = ""; n = length(line); i = 1
    while (i <= n) {
        c = substr(line, i, 1); c2 = substr(line, i, 2)
        if (in_comment) {
            if (c2 == "*/") { in_comment = 0; i += 2; out = out "  " } else { i++; out = out " " }
            continue
        }
        if (c2 == "/*") { in_comment = 1; i += 2; out = out "  "; continue }
        if (c2 == "//") break
        if (c == "\"" || c == "\047") {
            q = c; i++; out = out " "
            while (i <= n) {
                c = substr(line, i, 1)
                if (c == "\\") { i += 2; out = out "  "; continue }
                i++; out = out " "
                if (c == q) break
            }
            continue
        }
        out = out c; i++
    }

    # guard: the first two directives of a header
    if (out ~ /^[ \t]*#/) {
        directives++
        last_directive = out; last_dir_line = FNR
        if (FILENAME ~ /\.h$/ && directives == 1) {
            want = guard_of(FILENAME)
            if (out ~ /^#ifndef[ \t]/) {
                guard_seen = 1; g = out; sub(/^#ifndef[ \t]+/, "", g); sub(/[ \t]+$/, "", g)
                guard = g
                if (g != want) err("guard", "#ifndef " g ", want " want)
            }
        } else if (FILENAME ~ /\.h$/ && directives == 2 && guard_seen) {
            g = out; sub(/^#define[ \t]+/, "", g); sub(/[ \t]+$/, "", g)
            if (out !~ /^#define[ \t]/ || g != guard)
                err("guard", "the #ifndef " guard " is not followed by #define " guard)
        }
    }

    # banned calls
    if (out !~ /^[ \t]*#[ \t]*(define|undef)[ \t]/) {
        rest = out
        re = "(^|[^A-Za-z0-9_.>])(" banned ")[ \t]*\\("
        while (match(rest, re)) {
            m = substr(rest, RSTART, RLENGTH)
            sub(/^[^A-Za-z0-9_]/, "", m); sub(/[ \t]*\($/, "", m)
            err("banned", m "() (use snprintf, buf_*, parse_i64(), gmtime_r, rng_*): " $0)
            rest = substr(rest, RSTART + RLENGTH)
        }
    }

    # strto*
    sre = "(^|[^A-Za-z0-9_.>])strto(l|ll|ul|ull|d|f|ld|imax|umax)[ \t]*\\("
    if (match(out, sre)) {
        if (daemon_tree(FILENAME) && FILENAME != "common/parse.c")
            err("strto", "strto*() outside common/parse.c (use parse_i64() and friends): " $0)
        else if (match(out, sre "[^,]*,[ \t]*(NULL|0)[ \t]*[,)]"))
            err("strto", "strto*() without an end pointer to check: " $0)
    }

    # stderr
    if (daemon_tree(FILENAME) && !may_print_stderr(FILENAME) &&
        (out ~ /(^|[^A-Za-z0-9_])v?fprintf[ \t]*\([ \t]*stderr[ \t]*,/ ||
         out ~ /(^|[^A-Za-z0-9_])fputs[ \t]*\(.*,[ \t]*stderr[ \t]*\)/ ||
         out ~ /(^|[^A-Za-z0-9_.>])perror[ \t]*\(/))
        err("stderr", "output to stderr after start-up (log_emit(), or move it to the start-up path): " $0)

    # function definitions: a signature at column 0, then "{" at column 0
    if (out ~ /^[A-Za-z_]/ && out ~ /\(/ && out !~ /;[ \t]*$/ &&
        out !~ /^(typedef|extern|_Static_assert|(struct|enum|union)[ \t]+[A-Za-z_0-9]*[ \t]*\{)/ &&
        out !~ /^__attribute__[ \t]*\(\([^)]*\)\)[ \t]*$/) {
        sig = out; sig_line = FNR
    } else if (out ~ /^\{/ && sig != "") {
        fn_name = sig_parse(sig)
        if (!sig_static)
            check_exported(fn_name, sig_line)
        fn_start = FNR; sig = ""
    } else if (out ~ /^\}/ && fn_start) {
        if (FNR - fn_start + 1 > long_max)
            printf "%s:%d: warning: long: %s() is %d lines (over %d)\n", FILENAME, fn_start,
                fn_name, FNR - fn_start + 1, long_max
        fn_start = 0
    } else if (out ~ /;[ \t]*$/ && out !~ /^[ \t]/) {
        sig = ""
    }
}
END { if (NR > 0) end_file() }
' "${files[@]}")

errors=$(grep -c ': error: ' <<<"$report" || true)
warnings=$(grep -c ': warning: ' <<<"$report" || true)
if [[ -n "$report" ]]; then
    printf '%s\n' "$report"
fi
if ((errors > 0)); then
    echo "checksrc: $errors error(s), $warnings warning(s) in ${#files[@]} files (rules: head of $0)" >&2
    exit 1
fi
echo "checksrc: ${#files[@]} files clean ($warnings warning(s))"
