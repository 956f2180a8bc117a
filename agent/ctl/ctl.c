/* SPDX-License-Identifier: Apache-2.0 */
/* ctl.c — control socket framing, SO_PEERCRED checks and the client (see ctl.h). */
#include "ctl/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

static int send_all(int sock, const void *buf, size_t len, int pass_fd)
{
        const uint8_t *p = buf;
        while (len) {
                struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int))];
                } cm;
                if (pass_fd >= 0) {
                        memset(&cm, 0, sizeof cm);
                        mh.msg_control = cm.buf;
                        mh.msg_controllen = sizeof cm.buf;
                        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
                }
                ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                pass_fd = -1; /* the fd travels with the first byte only */
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int ctl_encode(const json_t *msg, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        size_t n = strlen(s);
        if (n > CTL_MAX_MESSAGE)
                return -EMSGSIZE;
        uint8_t *buf = malloc(4 + n);
        if (!buf)
                return -ENOMEM;
        buf[0] = (uint8_t)(n >> 24), buf[1] = (uint8_t)(n >> 16), buf[2] = (uint8_t)(n >> 8), buf[3] = (uint8_t)n;
        memcpy(buf + 4, s, n);
        *ret = buf;
        *ret_len = 4 + n;
        return 0;
}

int ctl_parse(const uint8_t *in, size_t len, json_t **ret)
{
        if (len < 4)
                return 0;
        size_t n = (size_t)in[0] << 24 | (size_t)in[1] << 16 | (size_t)in[2] << 8 | in[3];
        if (n == 0 || n > CTL_MAX_MESSAGE)
                return -EMSGSIZE;
        if (len < 4 + n)
                return 0;
        if (len > 4 + n)
                return -EBADMSG; /* one request per connection */
        json_t *o = json_loadb((const char *)in + 4, n, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o)) {
                json_decref(o);
                return -EBADMSG;
        }
        *ret = o;
        return 1;
}

int ctl_send(int sock, const json_t *msg, int pass_fd)
{
        uint8_t *buf;
        size_t n;
        int r = ctl_encode(msg, &buf, &n);
        if (r < 0)
                return r;
        r = send_all(sock, buf, n, pass_fd);
        free(buf);
        return r;
}

void ctl_take_fds(struct msghdr *mh, int *keep)
{
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfd; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                        if (keep && *keep < 0)
                                *keep = fd;
                        else
                                close(fd); /* more than one fd: not ours to keep */
                }
        }
}

static int recv_all(int sock, void *buf, size_t len, int *ret_fd)
{
        uint8_t *p = buf;
        while (len) {
                struct iovec iov = {.iov_base = p, .iov_len = len};
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int) * 4)];
                } cm;
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
                ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                }
                ctl_take_fds(&mh, ret_fd);
                if (n == 0)
                        return -ECONNRESET;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int recv_msg(int sock, json_t **ret, int *fd)
{
        uint8_t h[4];
        int r = recv_all(sock, h, 4, fd);
        if (r < 0)
                return r;
        size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (n == 0 || n > CTL_MAX_MESSAGE)
                return -EMSGSIZE;
        _cleanup_free_ char *buf = malloc(n);
        if (!buf)
                return -ENOMEM;
        r = recv_all(sock, buf, n, fd);
        if (r < 0)
                return r;
        json_t *o = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o)) {
                json_decref(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

int ctl_recv(int sock, json_t **ret, int *ret_fd)
{
        int fd = -1;
        int r = recv_msg(sock, ret, &fd);
        if (r >= 0 && ret_fd)
                *ret_fd = TAKE_FD(fd);
        if (fd >= 0)
                close(fd);
        return r;
}

static int fill_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
        memset(sa, 0, sizeof *sa);
        sa->sun_family = AF_UNIX;
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        memcpy(sa->sun_path, path, n);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

int ctl_listen(const char *path, gid_t group, int *ret_fd, berr *e)
{
        struct sockaddr_un sa;
        socklen_t sl;
        if (fill_addr(path, &sa, &sl) < 0)
                return berr_set(e, -ENAMETOOLONG, "control socket path %s is too long", path);
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                int r = mkdir_p(dir, 0755);
                if (r < 0)
                        return berr_set(e, r, "cannot create %s for the control socket: %s", dir, strerror(-r));
        }
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return berr_set(e, -errno, "cannot create the control socket: %s", strerror(errno));
        /* A leftover file from a previous run would make bind() fail; if a daemon still
         * answers there, refuse rather than steal its socket. */
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return berr_set(e, -EEXIST, "%s exists and is not a socket; remove it or set control.socket", path);
                _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sl) == 0)
                        return berr_set(e, -EADDRINUSE, "another berth agent is already listening on %s", path);
                unlink(path);
        }
        /* Created with no access for others, then opened up to the group. */
        mode_t old = umask(0177);
        int k = bind(fd, (struct sockaddr *)&sa, sl);
        umask(old);
        if (k < 0)
                return berr_set(e, -errno, "cannot bind the control socket %s: %s", path, strerror(errno));
        if (group != (gid_t)-1 && (chown(path, 0, group) < 0 || chmod(path, 0660) < 0))
                return berr_set(e, -errno, "cannot give group %u access to %s: %s", (unsigned)group, path, strerror(errno));
        if (listen(fd, 16) < 0)
                return berr_set(e, -errno, "cannot listen on %s: %s", path, strerror(errno));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The peer's supplementary groups as the kernel recorded them at connect (SO_PEERGROUPS):
 * needs no /proc access, so it works under ProtectProc=invisible. 1 member, 0 not,
 * <0 when the kernel cannot tell. */
static int peer_in_group(int sock, gid_t g)
{
        gid_t groups[256];
        socklen_t l = sizeof groups;
        if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups, &l) < 0)
                return -errno;
        for (size_t i = 0; i < l / sizeof(gid_t); i++)
                if (groups[i] == g)
                        return 1;
        return 0;
}

/* Fallback for old kernels: supplementary groups from /proc/PID/status. */
static bool pid_in_group(pid_t pid, gid_t g)
{
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f)
                return false;
        char line[4096];
        while (fgets(line, sizeof line, f)) {
                if (strncmp(line, "Groups:", 7))
                        continue;
                char *s = line + 7, *end;
                for (;;) {
                        unsigned long v = strtoul(s, &end, 10);
                        if (end == s)
                                break;
                        if ((gid_t)v == g)
                                return true;
                        s = end;
                }
        }
        return false;
}

int ctl_peer_allowed(int sock, gid_t group, berr *e)
{
        struct ucred uc;
        socklen_t l = sizeof uc;
        if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0)
                return -errno;
        if (uc.uid == 0)
                return 1;
        if (group != (gid_t)-1) {
                int k = uc.gid == group ? 1 : peer_in_group(sock, group);
                if (k < 0)
                        k = pid_in_group(uc.pid, group);
                if (k > 0)
                        return 1;
        }
        berr_set(e, -EPERM, "permission denied: the berth control socket accepts root%s only (caller uid %u)",
                 group != (gid_t)-1 ? " and the configured group" : "", (unsigned)uc.uid);
        return 0;
}

int ctl_call(const char *path, const json_t *req, int pass_fd, unsigned timeout_s, json_t **ret, berr *e)
{
        struct sockaddr_un sa;
        socklen_t sl;
        if (fill_addr(path, &sa, &sl) < 0)
                return berr_set(e, -ENAMETOOLONG, "control socket path %s is too long", path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_set(e, -errno, "cannot create a socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sl) < 0) {
                if (errno == ENOENT || errno == ECONNREFUSED)
                        return -ENOTCONN;
                return berr_set(e, -errno, "cannot connect to the berth agent at %s: %s", path, strerror(errno));
        }
        struct timeval tv = {.tv_sec = timeout_s ? timeout_s : 600};
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int r = ctl_send(fd, req, pass_fd);
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                return berr_set(e, r, "cannot send to the berth agent at %s: %s", path, strerror(-r));
        /* A refusal may close before reading our request: its answer is still there. */
        r = ctl_recv(fd, ret, NULL);
        if (r == -EAGAIN || r == -EWOULDBLOCK)
                return berr_set(e, -ETIMEDOUT, "the berth agent at %s did not answer within %u s; it may be stuck "
                                "(see its log: journalctl -u berth-agent)", path, (unsigned)tv.tv_sec);
        if (r < 0)
                return berr_set(e, r, "no answer from the berth agent at %s: %s", path, strerror(-r));
        return 0;
}
