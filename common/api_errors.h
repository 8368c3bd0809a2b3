/* api_errors.h - every API error: HTTP status and stable code string.
 * X-macro so the enum and the table cannot drift apart. */
#ifndef BM_COMMON_API_ERRORS_H
#define BM_COMMON_API_ERRORS_H

#define API_ERRORS(X)                                   \
    X(API_BAD_REQUEST,   400, "bad_request")            \
    X(API_BAD_PARAM,     400, "invalid_parameter")      \
    X(API_BAD_JSON,      400, "invalid_json")           \
    X(API_UNAUTHORIZED,  401, "unauthorized")           \
    X(API_NOT_FOUND,     404, "not_found")              \
    X(API_BAD_METHOD,    405, "method_not_allowed")     \
    X(API_REQ_TIMEOUT,   408, "request_timeout")        \
    X(API_TOO_LARGE,     413, "payload_too_large")      \
    X(API_URI_TOO_LONG,  414, "uri_too_long")           \
    X(API_BAD_MEDIA,     415, "unsupported_media_type") \
    X(API_UNKNOWN_FIELD, 422, "unknown_field")          \
    X(API_BAD_TYPE,      422, "invalid_type")           \
    X(API_BAD_VALUE,     422, "invalid_value")          \
    X(API_READONLY,      422, "read_only_field")        \
    X(API_HEAD_TOO_LARGE, 431, "request_header_fields_too_large") \
    X(API_INTERNAL,      500, "internal_error")         \
    X(API_BAD_GATEWAY,   502, "bad_gateway")            \
    X(API_UNAVAIL,       503, "service_unavailable")    \
    X(API_GW_TIMEOUT,    504, "gateway_timeout")

#define API_AS_ENUM(id, status, code) id,
enum api_err { API_ERRORS(API_AS_ENUM) API_ERR_COUNT };
#undef API_AS_ENUM

struct api_error_info {
    int status;
    const char *code;
};

/* Indexed by enum api_err. */
extern const struct api_error_info api_error_table[API_ERR_COUNT];

/* A validation failure found outside the HTTP layer (config, bodies):
 * what to answer and which field it concerns. */
struct api_fail {
    enum api_err err;
    char field[64];
    char msg[160];
};

void api_fail_set(struct api_fail *f, enum api_err err, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
