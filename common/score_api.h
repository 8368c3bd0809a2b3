/* score_api.h - a service's scoring endpoints: POST /score scores a
 * detector's detections against the service's stored events (score.h
 * says how), GET /score/{id} returns a kept result, and /metrics shows
 * the newest. */
#ifndef BM_COMMON_SCORE_API_H
#define BM_COMMON_SCORE_API_H

#include <stdbool.h>

#include "buf.h"
#include "http_server.h"
#include "rc.h"
#include "service.h"

void score_api_h_post(struct http_req *req);
void score_api_h_get(struct http_req *req);
/* Appends the newest kept result's summary to a /metrics answer in out
 * (score_metrics_append). */
enum bm_rc score_api_metrics(const struct app *app, bool text, struct buf *out) BM_WUR;

#endif
