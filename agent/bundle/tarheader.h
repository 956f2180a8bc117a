/* SPDX-License-Identifier: Apache-2.0 */
/* tarheader.h — the one canonical ustar header of a .berth entry.
 *
 * A bundle entry's 512-byte header is a pure function of its name and size (see
 * README.md, "Container"). The writer gets the same bytes from libarchive; the reader
 * compares every header it meets with this function's output.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define TAR_HEADER_SIZE 512u

/* Fills out with the canonical header; false if name is longer than 99 bytes or size
 * does not fit the 11-digit octal size field. */
bool tar_canonical_header(uint8_t out[TAR_HEADER_SIZE], const char *name, uint64_t size);
