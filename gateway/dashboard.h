/* dashboard.h - /dashboard as a page for browsers: the template of
 * gateway/dashboard/ with its stylesheet and script inline, the first
 * data for the charts, and a summary rendered here for when JavaScript
 * is off. */
#ifndef BM_GATEWAY_DASHBOARD_H
#define BM_GATEWAY_DASHBOARD_H

#include <stdbool.h>

#include "aggregate.h"
#include "buf.h"
#include "rc.h"

#define GW_CT_HTML "text/html; charset=utf-8"
/* The page loads nothing from anywhere: its script and style are inline
 * and it talks only to this gateway. */
#define GW_DASH_CSP                                                                        \
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "          \
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "             \
    "frame-ancestors 'none'"

/* True if an Accept header names text/html (what a browser sends for a
 * page); NULL is false. */
bool gw_dash_wants_html(const char *accept);

/* Appends the page. */
enum bm_rc gw_dash_page(struct gw_agg *a, struct buf *out) BM_WUR;

/* Appends s with &, <, >, " and ' as character references. */
enum bm_rc gw_html_escape(struct buf *out, const char *s) BM_WUR;

#endif
