/* evfmt.h - an event's JSON as a CSV row: nested objects flattened to
 * dotted columns (location.city), RFC 4180 quoting. */
#ifndef BM_COMMON_EVFMT_H
#define BM_COMMON_EVFMT_H

#include <stddef.h>

#include "buf.h"
#include "rc.h"

/* The header row (columns in the event's key order) and CRLF. */
enum bm_rc evfmt_csv_header(const char *json, size_t len, struct buf *out) BM_WUR;
/* The event's values in the same order and CRLF: strings quoted when they
 * hold a comma, quote, CR or LF (quotes doubled), null empty, numbers and
 * booleans as in the JSON, arrays as their JSON text. */
enum bm_rc evfmt_csv_row(const char *json, size_t len, struct buf *out) BM_WUR;

#endif
