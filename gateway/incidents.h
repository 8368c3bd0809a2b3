/* incidents.h - the gateway's GET /incidents (the three services' lists
 * merged, each incident with its `source`) and GET /incidents/{id} (from
 * whichever service has it), asked of the services per request, in
 * parallel. */
#ifndef BM_GATEWAY_INCIDENTS_H
#define BM_GATEWAY_INCIDENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "http_server.h"
#include "rc.h"
#include "svc.h"

/* The gateway's cursor: one sequence per service, "t,a,m". */
struct gw_inc_cursor {
    uint64_t seq[SVC_NSOURCES];
};

enum bm_rc gw_inc_cursor_parse(const char *s, struct gw_inc_cursor *out) BM_WUR;

void gw_h_incidents(struct http_req *req);
void gw_h_incident(struct http_req *req); /* routed as a prefix, /incidents/ */

#endif
