/* pagecache.h - each worker thread's copy of the newest page of an event
 * list. The newest-N page (no `since`) is the same for every client until
 * the list moves on, and dashboards poll it hard: a thread keeps its last
 * such page with the version it was built at (a service's committed head,
 * the gateway's list version) and serves it again while the version and
 * the query are the same. Per thread, so no lock on the hot path; the
 * caches are listed so that pagecache_free_all frees them once the worker
 * threads are gone. One cache per thread in a process. */
#ifndef BM_COMMON_PAGECACHE_H
#define BM_COMMON_PAGECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* What a cached page answers: the query (anomaly_type one of the static
 * type names, compared by address) and the version it was built at. */
struct pagecache_key {
    int64_t limit;
    bool anomalies_only;
    const char *anomaly_type;
    uint64_t version;
};

/* This thread's page for k, or NULL (no page, another query or version,
 * or no memory). Valid until this thread's next pagecache_put. */
const struct buf *pagecache_get(const struct pagecache_key *k);
/* Keeps body as this thread's page for k (a body over max is not kept). */
void pagecache_put(const struct pagecache_key *k, const struct buf *body, size_t max);
/* Frees every thread's page; call after the worker threads have ended. */
void pagecache_free_all(void);

#endif
