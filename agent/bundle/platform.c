/* SPDX-License-Identifier: Apache-2.0 */
/* platform.c — the blobs of a bundle one platform needs (see platform.h). */
#include "bundle/platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"

#define MAX_DEPTH 4

int platform_read_doc(int fd, uint64_t offset, const struct bundle_blob *b, json_t **ret, berr *e)
{
        if (b->size > PLATFORM_MAX_DOC)
                return berr_set(e, -EFBIG, "image document %s is too large", b->digest);
        _cleanup_free_ char *buf = malloc(b->size ? b->size : 1);
        if (!buf)
                return berr_set(e, -ENOMEM, "out of memory");
        for (uint64_t got = 0; got < b->size;) {
                ssize_t n = pread(fd, buf + got, b->size - got, (off_t)(offset + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return berr_set(e, n < 0 ? -errno : -EIO, "cannot read image document %s", b->digest);
                got += (uint64_t)n;
        }
        char dg[DIGEST_STR_LEN + 1];
        if (sha256_buf_str(buf, b->size, dg) < 0 || strcmp(dg, b->digest))
                return berr_set(e, -EBADMSG, "image document %s does not match its digest", b->digest);
        json_error_t je;
        *ret = json_loadb(buf, b->size, JSON_REJECT_DUPLICATES, &je);
        if (!*ret)
                return berr_set(e, -EBADMSG, "image document %s is not JSON: %s", b->digest, je.text);
        return 0;
}

int platform_file_doc(void *userdata, const struct bundle_blob *b, json_t **ret, berr *e)
{
        return platform_read_doc(*(int *)userdata, b->data_offset, b, ret, e);
}

/* Copies src (NULL: "") into dst of n bytes, cut to fit. */
static void set_field(char *dst, size_t n, const char *src)
{
        size_t l = src ? strnlen(src, n - 1) : 0;
        if (l)
                memcpy(dst, src, l);
        dst[l] = 0;
}

void platform_host(struct platform *p)
{
        struct utsname u;
        *p = (struct platform){.os = "linux", .arch = "amd64"};
        if (uname(&u) < 0)
                return;
        const char *m = u.machine;
        if (!strcmp(m, "x86_64"))
                set_field(p->arch, sizeof p->arch, "amd64");
        else if (!strcmp(m, "aarch64") || !strcmp(m, "arm64"))
                set_field(p->arch, sizeof p->arch, "arm64");
        else if (!strncmp(m, "armv", 4)) {
                set_field(p->arch, sizeof p->arch, "arm");
                /* armv7l → v7, armv6l → v6 */
                p->variant[0] = 'v';
                p->variant[1] = m[4] >= '5' && m[4] <= '8' ? m[4] : '7';
                p->variant[2] = 0;
        } else if (!strcmp(m, "arm"))
                set_field(p->arch, sizeof p->arch, "arm");
        else if (!strcmp(m, "i686") || !strcmp(m, "i386"))
                set_field(p->arch, sizeof p->arch, "386");
        else
                set_field(p->arch, sizeof p->arch, m);
}

static bool part_valid(const char *s, size_t len, size_t max)
{
        if (len == 0 || len >= max)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
                      s[i] == '.'))
                        return false;
        return true;
}

int platform_parse(const char *s, struct platform *p, berr *e)
{
        *p = (struct platform){0};
        const char *a = s ? strchr(s, '/') : NULL;
        const char *v = a ? strchr(a + 1, '/') : NULL;
        size_t los = a ? (size_t)(a - s) : 0;
        size_t la = a ? (v ? (size_t)(v - a - 1) : strlen(a + 1)) : 0;
        size_t lv = v ? strlen(v + 1) : 0;
        if (!a || !part_valid(s, los, sizeof p->os) || !part_valid(a + 1, la, sizeof p->arch) ||
            (v && !part_valid(v + 1, lv, sizeof p->variant)))
                return berr_set(e, -EINVAL, "'%s' is not a platform; write os/architecture[/variant], e.g. "
                                "linux/arm64 or linux/arm/v7", s ? s : "");
        memcpy(p->os, s, los);
        memcpy(p->arch, a + 1, la);
        if (v)
                memcpy(p->variant, v + 1, lv);
        return 0;
}

const char *platform_format(const struct platform *p, char buf[PLATFORM_NAME_MAX])
{
        snprintf(buf, PLATFORM_NAME_MAX, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
        return buf;
}

/* A descriptor's "platform" against p: none matches any; a variant only counts when
 * both name one. */
static bool platform_obj_matches(json_t *pl, const struct platform *p)
{
        const char *os = json_string_value(json_object_get(pl, "os"));
        const char *arch = json_string_value(json_object_get(pl, "architecture"));
        const char *var = json_string_value(json_object_get(pl, "variant"));
        return (!os || !strcmp(os, p->os)) && (!arch || !strcmp(arch, p->arch)) &&
               (!var || !p->variant[0] || !strcmp(var, p->variant));
}

bool platform_desc_matches(json_t *desc, const struct platform *p)
{
        json_t *pl = json_object_get(desc, "platform");
        return !json_is_object(pl) || platform_obj_matches(pl, p);
}

static bool desc_platform(json_t *o, struct platform *p)
{
        const char *os = json_string_value(json_object_get(o, "os"));
        const char *arch = json_string_value(json_object_get(o, "architecture"));
        const char *var = json_string_value(json_object_get(o, "variant"));
        if (!os || !arch || !os[0] || !arch[0] || strlen(os) >= sizeof p->os || strlen(arch) >= sizeof p->arch ||
            (var && strlen(var) >= sizeof p->variant))
                return false;
        *p = (struct platform){0};
        set_field(p->os, sizeof p->os, os);
        set_field(p->arch, sizeof p->arch, arch);
        set_field(p->variant, sizeof p->variant, var);
        return true;
}

struct walk {
        const struct bundle_manifest *m;
        const struct platform *p;       /* NULL: list platforms instead */
        platform_doc_fn doc;
        void *ud;
        bool *need;
        bool check_plain;               /* a plain manifest's config must name w->p too */
        struct platform_bytes *list;    /* platform_list() */
        size_t n_list;
        berr *e;
};

/* The carried blob a descriptor names, or NULL (not in the bundle: another platform's). */
static const struct bundle_blob *desc_blob(struct walk *w, json_t *d, const char **ret_mt)
{
        const char *dg = json_string_value(json_object_get(d, "digest"));
        const struct bundle_blob *b = dg ? bundle_manifest_find_blob(w->m, dg) : NULL;
        if (b && ret_mt) {
                const char *mt = json_string_value(json_object_get(d, "mediaType"));
                *ret_mt = mt ? mt : b->media_type;
        }
        return b;
}

static int read_doc(struct walk *w, const struct bundle_blob *b, json_t **ret)
{
        if (b->size > PLATFORM_MAX_DOC)
                return berr_set(w->e, -EFBIG, "image document %s is %llu bytes, above the %u byte limit", b->digest,
                                (unsigned long long)b->size, PLATFORM_MAX_DOC);
        int r = w->doc(w->ud, b, ret, w->e);
        if (r >= 0 && !json_is_object(*ret)) {
                json_decref(*ret);
                *ret = NULL;
                return berr_set(w->e, -EBADMSG, "image document %s is not a JSON object", b->digest);
        }
        return r;
}

static void mark(struct walk *w, const struct bundle_blob *b)
{
        if (w->need)
                w->need[b - w->m->blobs] = true;
}

static int add_platform(struct walk *w, const struct platform *p)
{
        for (size_t i = 0; i < w->n_list; i++)
                if (!strcmp(w->list[i].platform.os, p->os) && !strcmp(w->list[i].platform.arch, p->arch) &&
                    !strcmp(w->list[i].platform.variant, p->variant))
                        return 0;
        struct platform_bytes *nl = realloc(w->list, (w->n_list + 1) * sizeof *nl);
        if (!nl)
                return berr_set(w->e, -ENOMEM, "out of memory");
        w->list = nl;
        w->list[w->n_list++] = (struct platform_bytes){.platform = *p};
        return 0;
}

static int walk(struct walk *w, const struct bundle_blob *b, const char *mt, unsigned depth);

static int walk_manifest(struct walk *w, const struct bundle_blob *b, bool top)
{
        mark(w, b);
        json_t *j = NULL;
        int r = read_doc(w, b, &j);
        if (r < 0)
                return r;
        const struct bundle_blob *cb = desc_blob(w, json_object_get(j, "config"), NULL);
        if (cb)
                mark(w, cb);
        json_t *layers = json_object_get(j, "layers");
        for (size_t i = 0; i < json_array_size(layers); i++) {
                const struct bundle_blob *lb = desc_blob(w, json_array_get(layers, i), NULL);
                if (lb)
                        mark(w, lb);
        }
        json_decref(j);
        if (w->p || !top || !cb)
                return 0;
        /* A plain manifest names its platform only in its config. */
        json_t *cj = NULL;
        r = read_doc(w, cb, &cj);
        struct platform p;
        if (r >= 0 && desc_platform(cj, &p))
                r = add_platform(w, &p);
        json_decref(cj);
        return r;
}

/* Whether the walk since before marked a manifest. */
static bool gave_manifest(struct walk *w, const bool *before)
{
        for (size_t i = 0; i < w->m->n_blobs; i++)
                if (w->need[i] && !before[i] && media_type_is_manifest(w->m->blobs[i].media_type))
                        return true;
        return false;
}

static int walk_index(struct walk *w, const struct bundle_blob *b, unsigned depth)
{
        mark(w, b);
        json_t *j = NULL;
        int r = read_doc(w, b, &j);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(j, "manifests");
        bool picked = false;
        for (size_t i = 0; r >= 0 && i < json_array_size(ms); i++) {
                json_t *d = json_array_get(ms, i);
                const char *cmt = NULL;
                const struct bundle_blob *cb = desc_blob(w, d, &cmt);
                if (!cb)
                        continue;
                if (!w->p) {
                        /* Listing: every carried manifest with a platform names one. */
                        struct platform p;
                        if (media_type_is_index(cmt))
                                r = walk(w, cb, cmt, depth + 1);
                        else if (desc_platform(json_object_get(d, "platform"), &p) && strcmp(p.os, "unknown"))
                                r = add_platform(w, &p);
                        continue;
                }
                if (!platform_desc_matches(d, w->p))
                        continue;
                if (media_type_is_index(cmt)) {
                        /* A nested index is needed only when it gives a manifest for w->p. */
                        size_t n = w->m->n_blobs;
                        bool before[n ? n : 1];
                        memcpy(before, w->need, n * sizeof *before);
                        r = walk(w, cb, cmt, depth + 1);
                        if (r >= 0 && !gave_manifest(w, before))
                                memcpy(w->need, before, n * sizeof *before);
                } else if (!picked && media_type_is_manifest(cmt)) {
                        picked = true;
                        r = walk(w, cb, cmt, depth + 1);
                }
        }
        json_decref(j);
        return r;
}

static int walk(struct walk *w, const struct bundle_blob *b, const char *mt, unsigned depth)
{
        if (depth > MAX_DEPTH)
                return berr_set(w->e, -ELOOP, "image index %s nests deeper than %u levels", b->digest, MAX_DEPTH);
        if (media_type_is_index(mt))
                return walk_index(w, b, depth);
        if (media_type_is_manifest(mt))
                return walk_manifest(w, b, depth == 0);
        return berr_set(w->e, -EBADMSG, "image %s has media type \"%s\", neither a manifest nor an index", b->digest,
                        mt);
}

/* The image's blobs for w->p; -ENOEXEC when it has nothing for that platform. */
static int need_image(struct walk *w, const struct bundle_image *im)
{
        const struct bundle_blob *b = bundle_manifest_find_blob(w->m, im->digest);
        if (!b)
                return berr_set(w->e, -EBADMSG, "image %s: its descriptor %s is not a blob of the bundle", im->ref,
                                im->digest);
        size_t n = w->m->n_blobs;
        bool before[n ? n : 1];
        memcpy(before, w->need, n * sizeof *before);
        int r = walk(w, b, im->media_type, 0);
        char want[PLATFORM_NAME_MAX];
        if (r >= 0 && w->check_plain && media_type_is_manifest(im->media_type)) {
                /* A plain manifest is the image whatever its platform (a node fetches it
                 * whole, as before platforms were told apart); whether a node of w->p can
                 * run it its config says. */
                json_t *j = NULL, *cj = NULL;
                const struct bundle_blob *cb = NULL;
                struct platform has;
                r = read_doc(w, b, &j);
                if (r >= 0 && (cb = desc_blob(w, json_object_get(j, "config"), NULL)))
                        r = read_doc(w, cb, &cj);
                bool ok = r < 0 || !cj || platform_obj_matches(cj, w->p);
                if (r >= 0 && !ok) {
                        char got[PLATFORM_NAME_MAX];
                        if (!desc_platform(cj, &has))
                                snprintf(got, sizeof got, "another platform");
                        else
                                platform_format(&has, got);
                        r = berr_set(w->e, -ENOEXEC, "image %s is for %s, not %s", im->ref, got,
                                     platform_format(w->p, want));
                }
                json_decref(j);
                json_decref(cj);
                return r;
        }
        if (r < 0 || !media_type_is_index(im->media_type))
                return r;
        /* An index that gave no manifest for this platform: the node could not run this
         * image. */
        if (gave_manifest(w, before))
                return 0;
        return berr_set(w->e, -ENOEXEC, "image %s has no manifest for %s in this bundle", im->ref,
                        platform_format(w->p, want));
}

static int need_all(struct walk *w, uint64_t *bytes, size_t *n_blobs, bool *incomplete)
{
        memset(w->need, 0, w->m->n_blobs * sizeof *w->need);
        for (size_t i = 0; i < w->m->n_images; i++) {
                int r = need_image(w, &w->m->images[i]);
                if (r == -ENOEXEC && incomplete) {
                        *incomplete = true;
                        continue;
                }
                if (r < 0)
                        return r;
        }
        uint64_t sum = 0;
        size_t k = 0;
        for (size_t i = 0; i < w->m->n_blobs; i++)
                if (w->need[i]) {
                        sum += w->m->blobs[i].size;
                        k++;
                }
        if (bytes)
                *bytes = sum;
        if (n_blobs)
                *n_blobs = k;
        return 0;
}

int platform_need(const struct bundle_manifest *m, const struct platform *p, platform_doc_fn doc, void *userdata,
                  bool *need, uint64_t *ret_bytes, berr *e)
{
        struct walk w = {.m = m, .p = p, .doc = doc, .ud = userdata, .need = need, .e = e};
        return need_all(&w, ret_bytes, NULL, NULL);
}

int platform_list(const struct bundle_manifest *m, platform_doc_fn doc, void *userdata, struct platform_bytes **ret,
                  size_t *n, berr *e)
{
        struct walk w = {.m = m, .doc = doc, .ud = userdata, .e = e};
        int r = 0;
        for (size_t i = 0; r >= 0 && i < m->n_images; i++) {
                const struct bundle_blob *b = bundle_manifest_find_blob(m, m->images[i].digest);
                if (b)
                        r = walk(&w, b, m->images[i].media_type, 0);
        }
        bool *need = r >= 0 ? calloc(m->n_blobs ? m->n_blobs : 1, sizeof *need) : NULL;
        if (r >= 0 && !need)
                r = berr_set(e, -ENOMEM, "out of memory");
        for (size_t i = 0; r >= 0 && i < w.n_list; i++) {
                struct walk wn = {.m = m, .p = &w.list[i].platform, .doc = doc, .ud = userdata, .need = need,
                                   .check_plain = true, .e = e};
                bool incomplete = false;
                r = need_all(&wn, &w.list[i].bytes, &w.list[i].n_blobs, &incomplete);
                w.list[i].incomplete = incomplete;
        }
        free(need);
        if (r < 0) {
                free(w.list);
                return r;
        }
        *ret = w.list;
        *n = w.n_list;
        return 0;
}
