/* SPDX-License-Identifier: Apache-2.0 */
/* ctl.h — the local control socket (/run/berth/berth.sock): framing, credentials and
 * the client call.
 *
 * Protocol: a stream socket; each message is a 4-byte big-endian length followed by
 * that many bytes of one JSON object (≤ CTL_MAX_MESSAGE). The client sends one
 * request {"cmd": "...", ...} and reads one response {"ok": true, ...} or
 * {"ok": false, "error": "sentence"}; then the connection closes. A request may carry
 * one file descriptor as SCM_RIGHTS ancillary data on its first byte ("import": the
 * caller opens the bundle, so the caller's permissions decide what can be imported).
 *
 * Only root and, when configured, members of one group may talk to the daemon: the
 * daemon checks SO_PEERCRED (uid 0, or the peer's gid or supplementary groups contain
 * the group) before reading a byte, and the socket file is 0660 root:group.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define CTL_DEFAULT_SOCKET "/run/berth/berth.sock"
#define CTL_MAX_MESSAGE (1024u * 1024)

/* Sends msg (and pass_fd when ≥ 0). */
int ctl_send(int sock, const json_t *msg, int pass_fd);
/* Receives one message; *ret_fd (optional) gets a passed fd or -1. */
int ctl_recv(int sock, json_t **ret, int *ret_fd);
/* The descriptors received with mh (SCM_RIGHTS): the first goes to *keep when that is
 * -1, every other one is closed. */
struct msghdr;
void ctl_take_fds(struct msghdr *mh, int *keep);
/* One framed message in a malloc'd buffer (the daemon writes it without blocking). */
int ctl_encode(const json_t *msg, uint8_t **ret, size_t *ret_len);
/* The request in the len bytes received so far: 1 complete (*ret set), 0 incomplete,
 * -EMSGSIZE for a bad length, -EBADMSG for bytes that are not one JSON object. */
int ctl_parse(const uint8_t *in, size_t len, json_t **ret);

/* Creates the listening socket (replacing a stale file), mode 0660, group gid
 * ((gid_t)-1 = root only). */
int ctl_listen(const char *path, gid_t group, int *ret_fd, berr *e);
/* 1 when the peer is root or in group, 0 when not (e filled with why), <0 on error. */
int ctl_peer_allowed(int sock, gid_t group, berr *e);

/* Client: one request, one response, waiting at most timeout_s (0: 600 s) for it.
 * -ENOTCONN (quietly) when no daemon listens, -ETIMEDOUT when it did not answer. */
int ctl_call(const char *path, const json_t *req, int pass_fd, unsigned timeout_s, json_t **ret, berr *e);
