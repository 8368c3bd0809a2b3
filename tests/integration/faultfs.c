/* faultfs.c - an LD_PRELOAD shim for the storage fault tests: while the
 * file named by FAULTFS_CONTROL exists, writes, syncs and truncations of
 * files whose path contains FAULTFS_MATCH fail with FAULTFS_ERRNO (EROFS,
 * ENOSPC or EIO; default EROFS), as on a file system remounted read-only
 * or full. Removing the control file ends the fault.
 *
 * The database's "-shm" file is spared: it is the shared-memory index
 * that readers map, and SQLite writes it through the mapping anyway. An
 * fd's path comes from /proc/self/fd, looked up only while the fault is
 * on, so the shim costs one access() per call otherwise.
 *
 * Built without sanitizers: it only forwards calls (the next definition
 * is the sanitizer's interceptor or libc's). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef int (*sync_fn)(int);
typedef int (*trunc_fn)(int, off_t);
typedef int (*trunc64_fn)(int, off64_t);

/* Set by the constructor, before any thread of the program runs (or by
 * the first call, if a library's initialiser writes before it). */
static write_fn real_write;
static pwrite_fn real_pwrite;
static pwrite64_fn real_pwrite64;
static sync_fn real_fsync, real_fdatasync;
static trunc_fn real_ftruncate;
static trunc64_fn real_ftruncate64;
static const char *control, *match;
static int fault_errno = EROFS;

/* dlsym's object pointer into a function pointer without a cast that
 * ISO C forbids. */
static void resolve(void *dst, size_t len, const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);

    if (!sym)
        abort(); /* not glibc: nothing to forward to */
    memcpy(dst, &sym, len);
}

__attribute__((constructor)) static void faultfs_init(void)
{
    const char *e = getenv("FAULTFS_ERRNO");

    if (real_ftruncate64)
        return;
    resolve(&real_write, sizeof(real_write), "write");
    resolve(&real_pwrite, sizeof(real_pwrite), "pwrite");
    resolve(&real_pwrite64, sizeof(real_pwrite64), "pwrite64");
    resolve(&real_fsync, sizeof(real_fsync), "fsync");
    resolve(&real_fdatasync, sizeof(real_fdatasync), "fdatasync");
    resolve(&real_ftruncate, sizeof(real_ftruncate), "ftruncate");
    control = getenv("FAULTFS_CONTROL");
    match = getenv("FAULTFS_MATCH");
    if (e && strcmp(e, "ENOSPC") == 0)
        fault_errno = ENOSPC;
    else if (e && strcmp(e, "EIO") == 0)
        fault_errno = EIO;
    resolve(&real_ftruncate64, sizeof(real_ftruncate64), "ftruncate64"); /* last: "done" */
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* True (errno set) if a call on fd must fail now. */
static bool faulted(int fd)
{
    char link[64], path[4096];
    ssize_t n;
    int saved = errno;

    faultfs_init();
    if (!control || !match || !*match || access(control, F_OK) != 0) {
        errno = saved;
        return false;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0) {
        errno = saved;
        return false;
    }
    path[n] = '\0';
    if (!strstr(path, match) || ends_with(path, (size_t)n, "-shm")) {
        errno = saved;
        return false;
    }
    errno = fault_errno;
    return true;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    return faulted(fd) ? -1 : real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return faulted(fd) ? -1 : real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    return faulted(fd) ? -1 : real_pwrite64(fd, buf, len, off);
}

int fsync(int fd)
{
    return faulted(fd) ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
    return faulted(fd) ? -1 : real_fdatasync(fd);
}

int ftruncate(int fd, off_t len)
{
    return faulted(fd) ? -1 : real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
    return faulted(fd) ? -1 : real_ftruncate64(fd, len);
}
