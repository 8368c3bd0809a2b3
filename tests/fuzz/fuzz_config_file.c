/* fuzz_config_file.c - the config file's text (cfg_apply_file_text, what
 * cfg_load calls on the file it read), applied by each of the four
 * processes to its defaults.
 *
 * Invariants: a rejected file leaves the config untouched and says why in
 * one "config: ..." line; an accepted one yields settings within the
 * table's ranges; every process accepts or rejects the same file (each
 * validates every section, SPEC §2); applying an accepted file again
 * changes nothing. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "support.h"

static void check_one(enum bm_svc svc, const char *text, size_t len, bool *accepted)
{
    struct bm_config c, before, again;
    char err[512];
    enum bm_rc rc;

    cfg_defaults(&c, svc);
    memcpy(&before, &c, sizeof(c));
    memset(err, 0, sizeof(err));
    rc = cfg_apply_file_text(&c, svc, text, len, err, sizeof(err));
    *accepted = rc == BM_OK;
    if (rc != BM_OK) {
        FUZZ_CHECK(rc == BM_EINVAL);
        FUZZ_CHECK(memcmp(&c, &before, sizeof(c)) == 0);
        FUZZ_CHECK(strncmp(err, "config: ", 8) == 0 && err[8] != '\0');
        FUZZ_CHECK(strchr(err, '\n') == NULL);
        return;
    }
    fuzz_check_config(&c);
    memcpy(&again, &c, sizeof(c));
    FUZZ_CHECK(cfg_apply_file_text(&again, svc, text, len, err, sizeof(err)) == BM_OK);
    FUZZ_CHECK(fuzz_config_same(&again, &c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool accepted[SVC_COUNT];

    for (int s = 0; s < SVC_COUNT; s++)
        check_one((enum bm_svc)s, (const char *)data, size, &accepted[s]);
    for (int s = 1; s < SVC_COUNT; s++)
        FUZZ_CHECK(accepted[s] == accepted[0]);
    return 0;
}
