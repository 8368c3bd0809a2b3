/* seedfile.c - a seed shared through a file (see seedfile.h). */
#include "seedfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "rng.h"

#define SEED_TEXT_MAX 32

/* Reads the file's number: BM_ENOTFOUND when there is no file. */
static enum bm_rc read_seed(const char *path, uint64_t *seed, char *err, size_t errlen)
{
    char text[SEED_TEXT_MAX + 1];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return BM_ENOTFOUND;
        snprintf(err, errlen, "cannot read seed file %s: %s", path, strerror(errno));
        return BM_EIO;
    }
    n = read(fd, text, SEED_TEXT_MAX);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read seed file %s: %s", path, strerror(errno));
        return BM_EIO;
    }
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    text[n] = '\0';
    if (parse_u64(text, seed) != BM_OK) {
        snprintf(err, errlen, "seed file %s holds no seed (a decimal number): \"%.20s\"", path,
                 text);
        return BM_EINVAL;
    }
    return BM_OK;
}

/* Writes a random seed to a file of its own and links it to path; EEXIST
 * from the link means another process won the race. */
static enum bm_rc create_seed(const char *path, char *err, size_t errlen)
{
    char tmp[600], text[SEED_TEXT_MAX];
    int fd, len, saved;

    if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "seed file path too long");
        return BM_EINVAL;
    }
    len = snprintf(text, sizeof text, "%llu\n", (unsigned long long)rng_os_u64());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) != 0) {
        saved = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        snprintf(err, errlen, "cannot write seed file %s: %s", tmp, strerror(saved));
        return BM_EIO;
    }
    close(fd);
    if (link(tmp, path) != 0 && errno != EEXIST) {
        saved = errno;
        unlink(tmp);
        snprintf(err, errlen, "cannot create seed file %s: %s", path, strerror(saved));
        return BM_EIO;
    }
    unlink(tmp);
    return BM_OK;
}

enum bm_rc seedfile_get(const char *path, uint64_t *seed, char *err, size_t errlen)
{
    enum bm_rc rc = read_seed(path, seed, err, errlen);

    if (rc != BM_ENOTFOUND)
        return rc;
    rc = create_seed(path, err, errlen);
    if (rc != BM_OK)
        return rc;
    rc = read_seed(path, seed, err, errlen);
    if (rc == BM_ENOTFOUND) {
        snprintf(err, errlen, "seed file %s vanished after it was written", path);
        rc = BM_EIO;
    }
    return rc;
}
