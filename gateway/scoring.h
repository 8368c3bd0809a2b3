/* scoring.h - the gateway's POST /score (every service's events, asked
 * of the services in parallel and merged), GET /score/{id} (its last
 * answers, in memory) and the newest one in /metrics. */
#ifndef BM_GATEWAY_SCORING_H
#define BM_GATEWAY_SCORING_H

#include <stdbool.h>

#include "buf.h"
#include "http_server.h"
#include "rc.h"
#include "routes.h"

void gw_score_h_post(struct http_req *req);
void gw_score_h_get(struct http_req *req);
/* Appends the newest answer's summary to a /metrics answer in out. */
enum bm_rc gw_score_metrics(bool text, struct buf *out) BM_WUR;
/* Frees the kept answers (at shutdown). */
void gw_score_free(void);

#endif
