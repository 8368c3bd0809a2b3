/* pagecache.c - each worker thread's newest page (pagecache.h). */
#include "pagecache.h"

#include <pthread.h>
#include <stdlib.h>

struct pagecache {
    struct pagecache_key key;
    struct buf body;
    bool valid;
};

#define PAGECACHE_THREADS 64
static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER; /* guards caches */
static struct pagecache *caches[PAGECACHE_THREADS];
static _Thread_local struct pagecache *mine;

/* This thread's cache, made and listed on first use; NULL if the list is
 * full (a thread past it just goes without) or no memory. */
static struct pagecache *my_cache(size_t max)
{
    struct pagecache *c = mine;

    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    buf_init(&c->body, max);
    pthread_mutex_lock(&caches_lock);
    for (int i = 0; i < PAGECACHE_THREADS; i++)
        if (!caches[i]) {
            caches[i] = c;
            mine = c;
            break;
        }
    pthread_mutex_unlock(&caches_lock);
    if (!mine) {
        free(c);
        return NULL;
    }
    return c;
}

static bool same_key(const struct pagecache_key *a, const struct pagecache_key *b)
{
    return a->limit == b->limit && a->anomalies_only == b->anomalies_only &&
           a->anomaly_type == b->anomaly_type && a->version == b->version;
}

const struct buf *pagecache_get(const struct pagecache_key *k)
{
    const struct pagecache *c = mine;

    return c && c->valid && same_key(&c->key, k) ? &c->body : NULL;
}

void pagecache_put(const struct pagecache_key *k, const struct buf *body, size_t max)
{
    struct pagecache *c = my_cache(max);

    if (!c)
        return;
    c->valid = false;
    buf_reset(&c->body);
    if (buf_append(&c->body, body->data, body->len) != BM_OK)
        return;
    c->key = *k;
    c->valid = true;
}

void pagecache_free_all(void)
{
    pthread_mutex_lock(&caches_lock);
    for (int i = 0; i < PAGECACHE_THREADS; i++)
        if (caches[i]) {
            buf_free(&caches[i]->body);
            free(caches[i]);
            caches[i] = NULL;
        }
    pthread_mutex_unlock(&caches_lock);
    mine = NULL;
}
