/* endpoints.h - the endpoints every service serves (/health, /metrics,
 * GET and POST /config) and the handlers a service routes itself (its
 * event list, JSON bodies). Handlers reach the service through
 * http_req_app(), a struct app (service.h). */
#ifndef BM_COMMON_ENDPOINTS_H
#define BM_COMMON_ENDPOINTS_H

#include <stddef.h>

#include "http_server.h"
#include "service.h"

/* GET /health, GET /metrics, GET and POST /config: daemon_run puts them
 * before the service's own routes. */
extern const struct route endpoints_common[];
extern const size_t endpoints_ncommon;

void endpoints_h_health(struct http_req *req);
void endpoints_h_metrics(struct http_req *req);
void endpoints_h_config_get(struct http_req *req);
void endpoints_h_config_set(struct http_req *req);
/* The service's event list (limit, since, anomalies_only, anomaly_type,
 * from, to, the service's body fields, incident_id; JSON, NDJSON or
 * CSV, gzip), routed by the service under its own path. */
void endpoints_h_events(struct http_req *req);

/* GET <events path>/stream: server-sent events (stream.h) with the
 * list's filters, resumable by Last-Event-ID or ?since=. */
void endpoints_h_stream(struct http_req *req);
/* GET <service>/export: the events of a time range with the list's
 * filters, in the list's formats, streamed as read. */
void endpoints_h_export(struct http_req *req);
/* The service's database as the stream hub's source (app->gl's head). */
struct stream_source;
void endpoints_stream_source(struct app *app, struct stream_source *out);

/* The request body parsed as JSON (the caller deletes it); on an empty
 * or invalid body answers the 400 itself and returns NULL. */
struct cJSON *endpoints_body_json(struct http_req *req);

/* Frees the worker threads' cached list pages; after the HTTP server has
 * stopped (no worker runs). */
void endpoints_free_caches(void);

#endif
