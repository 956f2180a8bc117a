/* SPDX-License-Identifier: Apache-2.0 */
/* addr.c — listen address parsing (see addr.h). */
#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int addr_parse(const char *s, bool any_ok, struct sockaddr_storage *ss, socklen_t *len)
{
        char host[64];
        const char *colon = s ? strrchr(s, ':') : NULL;
        memset(ss, 0, sizeof *ss);
        if (!colon || (size_t)(colon - s) >= sizeof host || colon[1] < '0' || colon[1] > '9')
                return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        char *end;
        errno = 0;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (errno || *end || port > 65535)
                return -EINVAL;
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        size_t hl = strlen(host);
        if ((hl == 0 && any_ok) || (hl > 2 && host[0] == '[' && host[hl - 1] == ']')) {
                if (hl) {
                        host[hl - 1] = 0;
                        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1)
                                return -EINVAL;
                } else
                        v6->sin6_addr = in6addr_any;
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons((uint16_t)port);
                *len = sizeof *v6;
                return 0;
        }
        if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
                return -EINVAL;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
}
