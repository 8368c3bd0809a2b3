/* harness_list.c - event lists: pages, raw event spans, byte-for-byte comparisons. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

cJSON *h_get_page(int port, const char *path, struct resp *r)
{
    cJSON *j, *ev;

    assert_int_equal(h_http_req(port, "GET", path, NULL, NULL, r), 0);
    if (r->status != 200)
        fail_msg("GET %s: %ld %s", path, r->status, r->body);
    j = cJSON_ParseWithLength(r->body, r->len);
    assert_non_null(j);
    ev = h_events_of(j);
    assert_true(cJSON_IsArray(ev));
    assert_int_equal(h_jnum(j, "count"), cJSON_GetArraySize(ev));
    h_jnum(j, "next_since");
    h_jnum(j, "oldest_sequence");
    return j;
}

cJSON *h_events_of(const cJSON *page)
{
    return cJSON_GetObjectItemCaseSensitive(page, "events");
}

size_t h_split_events(const char *body, size_t len, struct span *out, size_t max)
{
    static const char head[] = "{\"events\":[";
    size_t i = sizeof(head) - 1, start = 0, n = 0;
    int depth = 0;
    bool in_str = false;

    if (len < i || memcmp(body, head, i) != 0)
        fail_msg("list body does not start with %s: %.80s", head, body);
    for (; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (depth++ == 0)
                start = i;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                break; /* the end of the events array */
            if (--depth == 0) {
                assert_true(n < max);
                out[n].p = body + start;
                out[n].n = i + 1 - start;
                n++;
            }
        }
    }
    return n;
}

bool h_span_eq(struct span a, struct span b)
{
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

long long h_compare_backfill(int pa, int pb, const char *list, const char *end_ts)
{
    static struct span sa[LIST_PAGE], sb[LIST_PAGE];
    long long since = 0, n = 0;
    bool done = false;

    while (!done) {
        char path[160];
        struct resp ra, rb;
        cJSON *ja, *jb;
        size_t na, nb;

        snprintf(path, sizeof(path), "%s?since=%lld&limit=%d", list, since, LIST_PAGE);
        ja = h_get_page(pa, path, &ra);
        jb = h_get_page(pb, path, &rb);
        na = h_split_events(ra.body, ra.len, sa, LIST_PAGE);
        nb = h_split_events(rb.body, rb.len, sb, LIST_PAGE);
        for (size_t i = 0; i < na; i++) {
            const cJSON *e = cJSON_GetArrayItem(h_events_of(ja), (int)i);
            if (strcmp(h_jstr(e, "timestamp"), end_ts) >= 0) {
                done = true; /* live from here: wall-clock timing differs */
                break;
            }
            if (i >= nb || !h_span_eq(sa[i], sb[i]))
                fail_msg("sequence %lld differs between two runs with the same seed:\n%.*s\n%.*s",
                         h_jnum(e, "sequence"), (int)sa[i].n, sa[i].p, i < nb ? (int)sb[i].n : 0,
                         i < nb ? sb[i].p : "");
            since = h_jnum(e, "sequence");
            n++;
        }
        if (na < LIST_PAGE)
            done = true;
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        h_resp_free(&ra);
        h_resp_free(&rb);
    }
    return n;
}

long long h_newest_page(int port, const char *list, struct resp *r, struct span ev[LIST_PAGE])
{
    char path[160];
    cJSON *pg;
    long long head;

    snprintf(path, sizeof(path), "%s?limit=%d", list, LIST_PAGE);
    pg = h_get_page(port, path, r);
    head = h_jnum(pg, "next_since");
    cJSON_Delete(pg);
    assert_int_equal(h_split_events(r->body, r->len, ev, LIST_PAGE), LIST_PAGE);
    return head;
}

void h_assert_page_kept(int port, const char *list, long long head,
                        const struct span ev[LIST_PAGE])
{
    static struct span now[LIST_PAGE];
    const long long first = head - LIST_PAGE + 1;
    char path[160];
    struct resp r;

    snprintf(path, sizeof(path), "%s?since=%lld&limit=%d", list, first - 1, LIST_PAGE);
    cJSON_Delete(h_get_page(port, path, &r));
    assert_int_equal(h_split_events(r.body, r.len, now, LIST_PAGE), LIST_PAGE);
    for (size_t i = 0; i < LIST_PAGE; i++) {
        const struct span *old = &ev[LIST_PAGE - 1 - i];
        if (!h_span_eq(now[i], *old))
            fail_msg("sequence %lld changed across kill -9:\n%.*s\n%.*s", first + (long long)i,
                     (int)old->n, old->p, (int)now[i].n, now[i].p);
    }
    h_resp_free(&r);
}

/* Appends the id_field of every event of page to *ids. */
static void collect_ids(const cJSON *page, const char *id_field, char ***ids, size_t *n,
                        size_t *cap)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, h_events_of(page))
    {
        const char *id = h_jstr(e, id_field);

        if (!id)
            fail_msg("an event without %s", id_field);
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 4096;
            *ids = realloc(*ids, *cap * sizeof(**ids));
            assert_non_null(*ids);
        }
        (*ids)[*n] = strdup(id);
        assert_non_null((*ids)[(*n)++]);
    }
}

void h_assert_same_stream(int pa, int pb, const char *list, long long from, long long upto,
                          const char *id_field, long long killed_at)
{
    static struct span sa[LIST_PAGE], sb[LIST_PAGE];
    char **ids = NULL;
    size_t nid = 0, cap = 0;

    for (long long since = from; since < upto; since += LIST_PAGE) {
        char path[160];
        struct resp ra, rb;
        cJSON *ja;

        snprintf(path, sizeof(path), "%s?since=%lld&limit=%d", list, since, LIST_PAGE);
        ja = h_get_page(pa, path, &ra);
        cJSON_Delete(h_get_page(pb, path, &rb));
        assert_int_equal(h_split_events(ra.body, ra.len, sa, LIST_PAGE), LIST_PAGE);
        assert_int_equal(h_split_events(rb.body, rb.len, sb, LIST_PAGE), LIST_PAGE);
        for (size_t i = 0; i < LIST_PAGE; i++)
            if (!h_span_eq(sa[i], sb[i]))
                fail_msg("sequence %lld differs from an uninterrupted run (killed at %lld)",
                         since + 1 + (long long)i, killed_at);
        if (id_field)
            collect_ids(ja, id_field, &ids, &nid, &cap);
        cJSON_Delete(ja);
        h_resp_free(&ra);
        h_resp_free(&rb);
    }
    if (nid)
        qsort(ids, nid, sizeof(*ids), h_cmp_str);
    for (size_t i = 1; i < nid; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("%s %s appears twice", id_field, ids[i]);
    for (size_t i = 0; i < nid; i++)
        free(ids[i]);
    free(ids);
}

void h_assert_first_events_differ(int pa, int pb, const char *list, int n)
{
    char path[160];
    struct span *sa = calloc((size_t)n, sizeof(*sa)), *sb = calloc((size_t)n, sizeof(*sb));
    struct resp ra, rb;
    size_t same = 0;

    assert_true(sa && sb);
    snprintf(path, sizeof(path), "%s?since=0&limit=%d", list, n);
    cJSON_Delete(h_get_page(pa, path, &ra));
    cJSON_Delete(h_get_page(pb, path, &rb));
    assert_int_equal(h_split_events(ra.body, ra.len, sa, (size_t)n), n);
    assert_int_equal(h_split_events(rb.body, rb.len, sb, (size_t)n), n);
    for (int i = 0; i < n; i++)
        same += h_span_eq(sa[i], sb[i]) ? 1 : 0;
    assert_int_equal(same, 0);
    h_resp_free(&ra);
    h_resp_free(&rb);
    free(sa);
    free(sb);
}
