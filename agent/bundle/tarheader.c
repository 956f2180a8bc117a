/* SPDX-License-Identifier: Apache-2.0 */
/* tarheader.c — canonical ustar header bytes (see tarheader.h). */
#include "bundle/tarheader.h"

#include <stdio.h>
#include <string.h>

/* Octal field of width w: w-2 digits, then "  "-style terminators as libarchive writes. */
static void octal(uint8_t *f, unsigned digits, uint64_t v, const char *term)
{
        char tmp[24];
        snprintf(tmp, sizeof tmp, "%0*llo", (int)digits, (unsigned long long)v);
        memcpy(f, tmp, digits);
        memcpy(f + digits, term, strlen(term));
}

bool tar_canonical_header(uint8_t h[TAR_HEADER_SIZE], const char *name, uint64_t size)
{
        size_t nl = strlen(name);
        if (nl == 0 || nl > 99 || size > 077777777777ULL)
                return false;
        memset(h, 0, TAR_HEADER_SIZE);
        memcpy(h, name, nl);                    /*   0 name[100], NUL padded */
        octal(h + 100, 6, 0644, " ");           /* 100 mode "000644 \0" */
        octal(h + 108, 6, 0, " ");              /* 108 uid  "000000 \0" */
        octal(h + 116, 6, 0, " ");              /* 116 gid  "000000 \0" */
        octal(h + 124, 11, size, " ");          /* 124 size: 11 digits + space */
        octal(h + 136, 11, 0, " ");             /* 136 mtime: 11 zeros + space */
        memset(h + 148, ' ', 8);                /* 148 chksum, counted as spaces */
        h[156] = '0';                           /* 156 typeflag: regular file */
        memcpy(h + 257, "ustar\0" "00", 8);     /* 257 magic + version; uname/gname empty */
        octal(h + 329, 6, 0, " ");              /* 329 devmajor "000000 \0" */
        octal(h + 337, 6, 0, " ");              /* 337 devminor "000000 \0" */
        unsigned sum = 0;
        for (unsigned i = 0; i < TAR_HEADER_SIZE; i++)
                sum += h[i];
        octal(h + 148, 6, sum, "");             /* chksum "%06o\0 " */
        h[154] = 0;
        h[155] = ' ';
        return true;
}
