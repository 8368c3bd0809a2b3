/* evfmt.c - CSV rows of events. */
#include "evfmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"

static enum bm_rc put_field(struct buf *out, const char *s, size_t n)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;

    if (!quote)
        return buf_append(out, s, n);
    if (buf_putc(out, '"') != BM_OK)
        return BM_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if ((s[i] == '"' && buf_putc(out, '"') != BM_OK) || buf_putc(out, s[i]) != BM_OK)
            return BM_ETOOBIG;
    return buf_putc(out, '"');
}

static enum bm_rc put_value(struct buf *out, const cJSON *it)
{
    char *text;
    enum bm_rc rc;

    if (cJSON_IsNull(it))
        return BM_OK;
    if (cJSON_IsString(it))
        return put_field(out, it->valuestring, strlen(it->valuestring));
    if (cJSON_IsTrue(it))
        return buf_puts(out, "true");
    if (cJSON_IsFalse(it))
        return buf_puts(out, "false");
    text = cJSON_PrintUnformatted(it);
    if (!text)
        return BM_ENOMEM;
    rc = put_field(out, text, strlen(text));
    cJSON_free(text);
    return rc;
}

/* Walks obj depth first; header: dotted names, else values. */
static enum bm_rc walk(const cJSON *obj, const char *prefix, bool header, bool *first,
                       struct buf *out)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        char name[256];
        enum bm_rc rc;
        int n = snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "",
                         it->string ? it->string : "");
        if (n < 0 || (size_t)n >= sizeof(name))
            return BM_ETOOBIG;
        if (cJSON_IsObject(it)) {
            rc = walk(it, name, header, first, out);
        } else {
            rc = *first ? BM_OK : buf_putc(out, ',');
            *first = false;
            if (rc == BM_OK)
                rc = header ? put_field(out, name, (size_t)n) : put_value(out, it);
        }
        if (rc != BM_OK)
            return rc;
    }
    return BM_OK;
}

static enum bm_rc csv_line(const char *json, size_t len, bool header, struct buf *out)
{
    cJSON *obj = NULL;
    bool first = true;
    enum bm_rc rc = json_parse(json, len, &obj);

    if (rc == BM_OK && !cJSON_IsObject(obj))
        rc = BM_EINVAL;
    if (rc == BM_OK)
        rc = walk(obj, "", header, &first, out);
    if (rc == BM_OK)
        rc = buf_puts(out, "\r\n");
    cJSON_Delete(obj);
    return rc;
}

enum bm_rc evfmt_csv_header(const char *json, size_t len, struct buf *out)
{
    return csv_line(json, len, true, out);
}

enum bm_rc evfmt_csv_row(const char *json, size_t len, struct buf *out)
{
    return csv_line(json, len, false, out);
}
