/* SPDX-License-Identifier: MIT */
/*
 * error.c - names for the library's error numbers.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "numballoc.h"

NUMBALLOC_EXPORT const char *numballoc_strerror(int err)
{
	if (err == INT_MIN)
		return "Unknown error";
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "Success";
	case NUMBALLOC_ECORRUPT:
		return "Not a valid numballoc segment (bad magic, checksum, layout or size)";
	case NUMBALLOC_EVERSION:
		return "Unknown numballoc segment format version";
	case NUMBALLOC_EKIND:
		return "The segment holds another kind of numballoc pool";
	case ENOSPC:
		return "No free number (or run) left in the pool";
	case EEXIST:
		return "Already allocated, or the pool already exists";
	case ENOENT:
		return "Not allocated, or no such pool";
	case EROFS:
		return "Read-only: the pool was opened with NUMBALLOC_RDONLY, or its file system is read-only";
	case EINVAL:
		return "Invalid argument, or parameters that do not match the pool";
	default:
		/* strerror() of glibc is thread-safe for known values. */
		return strerror(err);
	}
}
