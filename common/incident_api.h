/* incident_api.h - GET /incidents and GET /incidents/{id} on every
 * service: the incidents table (db.h) as objects, with the entities read
 * from their events. */
#ifndef BM_COMMON_INCIDENT_API_H
#define BM_COMMON_INCIDENT_API_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "http_server.h"
#include "rc.h"
#include "svc.h"

#define INCIDENT_API_LIMIT_DEF  100
#define INCIDENT_API_LIMIT_MAX  1000
#define INCIDENT_API_ENTITY_MAX 32 /* distinct values listed per entity key */

void incident_api_h_list(struct http_req *req);
void incident_api_h_get(struct http_req *req); /* routed as a prefix, /incidents/ */

/* "generated", "api" or "injected". */
const char *incident_api_origin_name(int origin);

/* Appends the incident's JSON object; with events, its events too
 * ("events": [...] in sequence order). Reads its events on d (in the
 * caller's read transaction). */
enum bm_rc incident_api_put(struct db *d, enum bm_svc svc, const struct db_incident *in, bool events,
                       struct buf *out) BM_WUR;

/* Whether s looks like an incident id (a UUID's characters, 36 at most). */
bool incident_api_id_ok(const char *s);

#endif
