/* dashboard.c - the dashboard page: fills the markers of the embedded
 * template (a comment holding @ and a name) with the stylesheet, the
 * script, the first data and a summary for when JavaScript is off. */
#include "dashboard.h"

#include <ctype.h>
#include <string.h>

#include "dashboard_assets.h"
#include "report.h"
#include "timefmt.h"

bool gw_dash_wants_html(const char *accept)
{
    static const char want[] = "text/html";
    size_t n = sizeof(want) - 1;

    for (const char *p = accept; p && *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == want[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

enum bm_rc gw_html_escape(struct buf *out, const char *s)
{
    enum bm_rc rc = BM_OK;

    for (; *s && rc == BM_OK; s++) {
        switch (*s) {
        case '&':
            rc = buf_puts(out, "&amp;");
            break;
        case '<':
            rc = buf_puts(out, "&lt;");
            break;
        case '>':
            rc = buf_puts(out, "&gt;");
            break;
        case '"':
            rc = buf_puts(out, "&quot;");
            break;
        case '\'':
            rc = buf_puts(out, "&#39;");
            break;
        default:
            rc = buf_putc(out, *s);
            break;
        }
    }
    return rc;
}

/* What the page and the summary call a service's state: its /health's
 * "backfilling" shows through an ok. */
static const char *state_word(const struct gw_dash_svc *d)
{
    if (d->state == GW_OK && strcmp(d->status, "backfilling") == 0)
        return "backfilling";
    return gw_state_name(d->state);
}

static const char *overall_word(const struct gw_dash_snap *snap)
{
    int ok = 0;

    for (int s = 0; s < SVC_NSOURCES; s++)
        ok += snap->svc[s].state == GW_OK;
    return ok == SVC_NSOURCES ? "ok" : ok == 0 ? "down" : "degraded";
}

static enum bm_rc put_age(struct buf *b, int64_t ms)
{
    if (ms < 0)
        return buf_puts(b, "never");
    if (ms < 120000)
        return buf_printf(b, "%lld.%lld s", (long long)(ms / 1000), (long long)(ms % 1000 / 100));
    return buf_printf(b, "%lld min", (long long)(ms / 60000));
}

static enum bm_rc put_summary_row(struct buf *b, enum bm_svc s, const struct gw_dash_svc *d)
{
    const char *name = svc_info(s)->name, *st = state_word(d);
    enum bm_rc rc = buf_printf(b, "<tr data-service=\"%s\"><td>%s</td><td><span class=\"badge\" "
                                  "data-state=\"%s\">%s</span></td><td class=\"num\">",
                               name, name, st, st);

    if (rc == BM_OK)
        rc = put_age(b, d->data_age_ms);
    if (rc == BM_OK)
        rc = buf_printf(b, "</td><td class=\"num\">%d / %d</td><td class=\"num\">%llu</td>"
                           "<td class=\"num\">%llu</td><td class=\"num\">",
                        d->replicas_ok, d->replicas, (unsigned long long)d->events,
                        (unsigned long long)d->anomalies);
    if (rc == BM_OK && d->events_15m)
        rc = buf_printf(b, "%.2f%%", 100.0 * (double)d->anomalies_15m / (double)d->events_15m);
    else if (rc == BM_OK)
        rc = buf_puts(b, "–");
    if (rc == BM_OK)
        rc = buf_puts(b, "</td><td>");
    /* the reason comes from a polled service: escaped */
    if (rc == BM_OK && d->state != GW_OK && d->last_error[0])
        rc = gw_html_escape(b, d->last_error);
    return rc == BM_OK ? buf_puts(b, "</td></tr>\n") : rc;
}

static enum bm_rc put_summary(struct buf *b, const struct gw_dash_snap *snap)
{
    enum bm_rc rc = buf_puts(b, "<div class=\"table-wrap\"><table class=\"services\">\n"
                                "<thead><tr><th>service</th><th>state</th><th>data age</th>"
                                "<th>replicas up</th><th>events</th><th>anomalies</th>"
                                "<th>anomaly rate (15 min)</th><th>last error</th></tr></thead>\n"
                                "<tbody>\n");

    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++)
        rc = put_summary_row(b, (enum bm_svc)s, &snap->svc[s]);
    if (rc == BM_OK)
        rc = buf_puts(b, "</tbody></table></div>\n<h3>Anomalies by type, last hour</h3>\n"
                         "<div class=\"table-wrap\"><table class=\"types\">\n"
                         "<thead><tr><th>service</th><th>type</th><th>anomalies</th></tr></thead>\n"
                         "<tbody>\n");
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct svc_info *info = svc_info((enum bm_svc)s);
        for (int t = 0; t < info->nanomaly_types && rc == BM_OK; t++)
            rc = buf_printf(b, "<tr><td>%s</td><td>%s</td><td class=\"num\">%llu</td></tr>\n",
                            info->name, info->anomaly_types[t],
                            (unsigned long long)snap->svc[s].types_hour[t]);
    }
    return rc == BM_OK ? buf_puts(b, "</tbody></table></div>\n") : rc;
}

/* The charts' first data: {"history":...,"dashboard":...}, with '<' as
 * \u003c so that nothing in it can close the script element. */
static enum bm_rc put_data(struct buf *b, struct gw_agg *a)
{
    struct buf d;
    enum bm_rc rc;

    buf_init(&d, 256 * 1024);
    rc = buf_puts(&d, "{\"history\":");
    if (rc == BM_OK)
        rc = gw_agg_history_json(a, &d);
    if (rc == BM_OK)
        rc = buf_puts(&d, ",\"dashboard\":");
    if (rc == BM_OK)
        rc = gw_agg_dashboard(a, &d);
    if (rc == BM_OK)
        rc = buf_putc(&d, '}');
    for (size_t i = 0; i < d.len && rc == BM_OK; i++)
        rc = d.data[i] == '<' ? buf_puts(b, "\\u003c") : buf_putc(b, d.data[i]);
    buf_free(&d);
    return rc;
}

static enum bm_rc put_marker(struct buf *b, const char *name, size_t len, struct gw_agg *a,
                             const struct gw_dash_snap *snap)
{
    char ts[TIMEFMT_ISO_LEN + 1];

#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (IS("style"))
        return buf_append(b, (const char *)gw_dash_style_css, gw_dash_style_css_len);
    if (IS("script"))
        return buf_append(b, (const char *)gw_dash_app_js, gw_dash_app_js_len);
    if (IS("data"))
        return put_data(b, a);
    if (IS("summary"))
        return put_summary(b, snap);
    if (IS("overall"))
        return buf_puts(b, overall_word(snap));
    if (IS("generated")) {
        timefmt_iso(snap->now_ms, ts);
        return buf_puts(b, ts);
    }
#undef IS
    return BM_EINVAL;
}

enum bm_rc gw_dash_page(struct gw_agg *a, struct buf *out)
{
    static const char open[] = "<!--@", close[] = "-->";
    const char *p = (const char *)gw_dash_index_html;
    const char *end = p + gw_dash_index_html_len;
    struct gw_dash_snap snap;
    enum bm_rc rc = BM_OK;

    gw_agg_dash_snapshot(a, &snap);
    while (p < end && rc == BM_OK) {
        const char *m = strstr(p, open), *name, *stop;
        if (!m) {
            rc = buf_append(out, p, (size_t)(end - p));
            break;
        }
        name = m + sizeof(open) - 1;
        stop = strstr(name, close);
        if (!stop)
            return BM_EINVAL;
        rc = buf_append(out, p, (size_t)(m - p));
        if (rc == BM_OK)
            rc = put_marker(out, name, (size_t)(stop - name), a, &snap);
        p = stop + sizeof(close) - 1;
    }
    return rc;
}
