#!/usr/bin/env bash
# Fail if C sources call a banned function (STYLE.md §2 rule 10).
#
#   scripts/check_banned.sh            # scan common/ services/ gateway/ tests/ bench/
#   scripts/check_banned.sh PATH...    # scan these files or directories instead
#
# A call is the name as a whole word (not a member: no `.` or `->` before it)
# followed by optional blanks and `(`.
# Comments, string and character literals are blanked first, and so are
# `#define`/`#undef` lines, so a git-style banned.h may name them.
set -euo pipefail

BANNED='sprintf|vsprintf|strcpy|strncpy|strcat|strncat|strtok|atoi|atol|atof|gmtime|localtime|ctime|asctime|rand'

if (($# > 0)); then
    roots=("$@")
else
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    roots=()
    for d in common services gateway tests bench; do
        [[ -d "$d" ]] && roots+=("$d")
    done
fi

files=()
if ((${#roots[@]} > 0)); then
    mapfile -t files < <(find "${roots[@]}" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
fi
if ((${#files[@]} == 0)); then
    echo "check_banned: no C sources to scan"
    exit 0
fi

# awk: strip comments and literals (state carries across lines for /* */),
# then report every banned call on what is left.
hits=$(awk -v banned="$BANNED" '
FNR == 1 { in_comment = 0 }
{
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
    if (out ~ /^[ \t]*#[ \t]*(define|undef)[ \t]/) next
    rest = out
    re = "(^|[^A-Za-z0-9_.>])(" banned ")[ \t]*\\("
    while (match(rest, re)) {
        m = substr(rest, RSTART, RLENGTH)
        sub(/^[^A-Za-z0-9_]/, "", m); sub(/[ \t]*\($/, "", m)
        printf "%s:%d: banned call %s(): %s\n", FILENAME, FNR, m, $0
        rest = substr(rest, RSTART + RLENGTH)
    }
}' "${files[@]}")

if [[ -n "$hits" ]]; then
    printf '%s\n' "$hits"
    echo "check_banned: $(printf '%s\n' "$hits" | wc -l) banned call(s) in ${#files[@]} files;" \
         "use snprintf, buf_*, parse_i64(), gmtime_r, rng_* (STYLE.md §2 rule 10)" >&2
    exit 1
fi
echo "check_banned: ${#files[@]} files clean"
