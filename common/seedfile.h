/* seedfile.h - a seed shared through a file: services started apart with
 * the same SEED_FILE and no --seed agree on one random seed (compose's
 * services share a volume for it). */
#ifndef BM_COMMON_SEEDFILE_H
#define BM_COMMON_SEEDFILE_H

#include <stddef.h>
#include <stdint.h>

#include "rc.h"

/* The seed in the file at path (a decimal number and a newline). When
 * there is none, writes a random one first: to a file of its own, linked
 * into place, so of services racing to create it one wins and all read
 * the winner's. BM_EIO with a message in err when the file cannot be
 * read or written, BM_EINVAL when it holds no number. */
enum bm_rc seedfile_get(const char *path, uint64_t *seed, char *err, size_t errlen) BM_WUR;

#endif
