/* inject_api.h - POST /inject on every service: an incident of a chosen
 * type, target, time and size, scheduled through the generator's write
 * queue (genloop_submit_inject). */
#ifndef BM_COMMON_INJECT_API_H
#define BM_COMMON_INJECT_API_H

#include "http_server.h"

void inject_api_h_post(struct http_req *req);

#endif
