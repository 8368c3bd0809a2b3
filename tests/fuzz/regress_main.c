/* regress_main.c - the driver of a fuzz target in the plain build: calls
 * LLVMFuzzerTestOneInput once on every file named on the command line, a
 * directory meaning each regular file in it (sorted by name, not
 * recursive). ctest runs it over tests/fuzz/corpus/<name>, so the plain
 * and sanitizer suites replay every corpus without libFuzzer.
 *
 *   regress_<name> PATH...
 *
 * Exit status: 0 all inputs ran, 1 an input could not be read or none was
 * found, 2 usage. A broken invariant aborts (FUZZ_CHECK). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

#define REGRESS_MAX_INPUT (16u * 1024 * 1024)

/* Reads the whole file into a buffer of exactly its size, so that the
 * sanitizers see a read past the input's end. */
static int run_file(const char *path)
{
    struct stat st;
    FILE *f = NULL;
    uint8_t *data = NULL;
    size_t size;
    int rc = 1;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (unsigned long long)st.st_size > REGRESS_MAX_INPUT) {
        fprintf(stderr, "regress: %s: not a readable input file\n", path);
        return 1;
    }
    size = (size_t)st.st_size;
    data = malloc(size ? size : 1);
    f = fopen(path, "rb");
    if (!data || !f || fread(data, 1, size, f) != size) {
        fprintf(stderr, "regress: %s: cannot read: %s\n", path, strerror(errno));
        goto out;
    }
    fprintf(stderr, "regress: %s (%zu bytes)\n", path, size);
    (void)LLVMFuzzerTestOneInput(data, size);
    rc = 0;
out:
    if (f)
        fclose(f);
    free(data);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir; *count grows by the number run. */
static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d) {
        fprintf(stderr, "regress: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        char *path;
        struct stat st;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;

        if (de->d_name[0] == '.')
            continue;
        path = malloc(len);
        if (!path) {
            rc = 1;
            break;
        }
        snprintf(path, len, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == cap) {
            char **grown = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));
            if (!grown) {
                free(path);
                rc = 1;
                break;
            }
            names = grown;
            cap = cap ? cap * 2 : 64;
        }
        names[n++] = path;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            rc = run_file(names[i]);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH... (files, or directories of inputs)\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i], &count);
        } else {
            rc = run_file(argv[i]);
            count++;
        }
        if (rc != 0)
            return 1;
    }
    if (count == 0) {
        fprintf(stderr, "regress: no inputs found: an empty corpus tests nothing\n");
        return 1;
    }
    fprintf(stderr, "regress: %zu inputs, all invariants held\n", count);
    return 0;
}
