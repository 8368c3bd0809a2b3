/* openapi.h - GET /openapi.yaml: this daemon's part of openapi.yaml. */
#ifndef BM_COMMON_OPENAPI_H
#define BM_COMMON_OPENAPI_H

#include <stddef.h>

#include "http_server.h"

/* RFC 9512's media type for YAML. */
#define HTTP_CT_YAML "application/yaml"

/* The part this executable embeds (cmake/openapi_part.cmake, linked into
 * each daemon by the top-level CMakeLists.txt): NULL and 0 in a binary that
 * embeds none (unit tests). */
const char *openapi_doc(size_t *len);

/* Answers the part, 404 not_found where none is embedded. */
void openapi_h_get(struct http_req *req);

#endif
