/* scenario_api.h - GET and POST /scenarios on every service: the
 * scenario timeline the generator runs (scenario.h), as --scenario FILE
 * loads one. */
#ifndef BM_COMMON_SCENARIO_API_H
#define BM_COMMON_SCENARIO_API_H

#include "http_server.h"

void scenario_api_h_get(struct http_req *req);
void scenario_api_h_post(struct http_req *req);

#endif
