/* db_fixture.h - a writer connection on a new database in a new
 * temporary directory, for the tests of db.c's reads and writes
 * (test_db.c, test_incident_api.c, test_mon_store.c). Not a module: static inline, each
 * test its own copy. */
#ifndef BM_TESTS_UNIT_DB_FIXTURE_H
#define BM_TESTS_UNIT_DB_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "db.h"

struct db_fixture {
    char dir[64];
    char path[96];
    struct db *w;
};

/* Opens the writer (with a service's sql, or NULL) under
 * /tmp/<prefix>-XXXXXX/t.db; 0, or -1. */
static inline int db_fixture_open(struct db_fixture *f, const char *prefix,
                                  const struct db_sql *sql)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    return db_open_writer(f->path, sql, &f->w) == BM_OK ? 0 : -1;
}

/* Closes every connection and removes the database and its directory. */
static inline void db_fixture_close(struct db_fixture *f)
{
    static const char *const ext[] = { "", "-wal", "-shm" };
    char p[128];

    db_readers_close();
    db_close(f->w);
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, ext[i]);
        unlink(p);
    }
    rmdir(f->dir);
}

#endif
