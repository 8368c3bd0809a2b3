/* openapi.c - serves the part of openapi.yaml embedded in this executable.
 * Each daemon's executable links the object that defines openapi_part
 * (generated from openapi.yaml at build time); the references are weak so
 * that binaries without one (unit tests, benchmarks) still link, with the
 * address NULL. */
#include "openapi.h"

extern const unsigned char openapi_part[] __attribute__((weak));
extern const size_t openapi_part_len __attribute__((weak));

const char *openapi_doc(size_t *len)
{
    if (!openapi_part || !&openapi_part_len) {
        *len = 0;
        return NULL;
    }
    *len = openapi_part_len;
    return (const char *)openapi_part;
}

void openapi_h_get(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    size_t len;
    const char *doc;

    if (!http_req_args_check(req, allowed))
        return;
    doc = openapi_doc(&len);
    if (!doc) {
        http_send_error(req, API_NOT_FOUND, "", "this binary embeds no openapi.yaml");
        return;
    }
    http_send(req, 200, HTTP_CT_YAML, doc, len);
}
