/* SPDX-License-Identifier: Apache-2.0 */
/* serve.c — streams an artifact file with Range/ETag/If-Range support.
 *
 * The body is handed to the HTTP layer as an fd + offset + length, so a multi-GB bundle
 * is never read into memory. A file whose size changed since upload is refused (500)
 * rather than served inconsistently with its advertised hashes.
 */
#include "server-stub/artifact/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server-stub/http/http.h"

void artifact_serve(struct http_request *req, const char *path, const char *filename, uint64_t size, const char *sha256)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat stt;
        if (fd < 0 || fstat(fd, &stt) < 0 || (uint64_t)stt.st_size != size) {
                if (fd >= 0)
                        close(fd);
                http_reply_error(req, 500, "artifact.unavailable", "artifact %s is missing or changed on the server",
                                 filename);
                return;
        }
        char etag[70], buf[128];
        snprintf(etag, sizeof etag, "\"%s\"", sha256);
        http_add_header(req, "Accept-Ranges", "bytes");
        http_add_header(req, "ETag", etag);

        const char *range = http_header(req, "Range");
        const char *if_range = http_header(req, "If-Range");
        /* If-Range with anything but our current strong ETag means "send it all". */
        if (range && if_range && strcmp(if_range, etag) != 0)
                range = NULL;
        struct byte_range br;
        int k = artifact_parse_range(range, size, &br);
        if (k == -ERANGE) {
                close(fd);
                snprintf(buf, sizeof buf, "bytes */%" PRIu64, size);
                http_add_header(req, "Content-Range", buf);
                http_reply_error(req, 416, "artifact.range", "range '%s' is not satisfiable for %s (%" PRIu64 " bytes)",
                                 range, filename, size);
                return;
        }
        http_add_header(req, "Content-Type", "application/octet-stream");
        snprintf(buf, sizeof buf, "attachment; filename=\"%s\"", filename);
        http_add_header(req, "Content-Disposition", buf);
        if (k == 1) {
                snprintf(buf, sizeof buf, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, br.off, br.off + br.len - 1, size);
                http_add_header(req, "Content-Range", buf);
                http_reply_fd(req, 206, fd, br.off, br.len);
                return;
        }
        http_reply_fd(req, 200, fd, 0, size);
}
