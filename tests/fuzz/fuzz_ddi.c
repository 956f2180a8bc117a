/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_ddi.c — everything the agent parses from a DDI server or an artifact's first
 * bytes: controller base, deploymentBase, cancelAction (agent/ddi), the .berth head
 * size from tar headers (agent/fetch/plan) and Content-Range (agent/http). Checks what
 * a successful parse promises: links are http(s) without control characters, ids are
 * URL-safe, the head size stays within the format's limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/format.h"
#include "ddi/ddi.h"
#include "fetch/plan.h"
#include "net/http.h"

static void check_url(const char *u)
{
        if (!u)
                return;
        if (strncmp(u, "https://", 8) && strncmp(u, "http://", 7))
                abort();
        for (const char *p = u; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;
        berr e = {0};
        struct ddi_base b;
        if (ddi_parse_base(s, size, &b, &e) == 0) {
                check_url(b.deployment);
                check_url(b.cancel);
                check_url(b.config_data);
                check_url(b.installed);
                check_url(b.confirmation);
                char id[DDI_MAX_ID + 1];
                if (b.deployment && ddi_link_id(b.deployment, id) == 0 && !ddi_id_valid(id))
                        abort();
                ddi_base_clear(&b);
        }
        struct ddi_deployment d;
        berr_clear(&e);
        if (ddi_parse_deployment(s, size, &d, &e) == 0) {
                /* Either a .berth artifact to fetch, or one sentence saying why not. */
                if (!ddi_id_valid(d.id) || (!d.download == !d.refusal) || (d.download && !d.filename))
                        abort();
                check_url(d.download);
                ddi_deployment_clear(&d);
        }
        berr_clear(&e);
        if (ddi_parse_confirmation(s, size, &d, &e) == 0) {
                if (!ddi_id_valid(d.id) || (!d.download == !d.refusal))
                        abort();
                check_url(d.download);
                ddi_deployment_clear(&d);
        }
        bool active;
        berr_clear(&e);
        (void)ddi_parse_autoconfirm(s, size, &active, &e);
        struct ddi_cancel c;
        berr_clear(&e);
        if (ddi_parse_cancel(s, size, &c, &e) == 0 && (!ddi_id_valid(c.id) || !ddi_id_valid(c.stop_id)))
                abort();
        uint64_t need;
        int k = fetch_head_need(data, size, &need);
        if (k == 0 && need > BUNDLE_MAX_MANIFEST_SIZE + BUNDLE_MAX_SIGNATURES_SIZE + 4 * BUNDLE_TAR_BLOCK)
                abort();
        if (size < 200) {
                char buf[256];
                memcpy(buf, data, size);
                buf[size] = 0;
                uint64_t a, z, n;
                if (http_parse_content_range(buf, &a, &z, &n) == 0 && (z < a || (n != UINT64_MAX && z >= n)))
                        abort();
                int64_t sl;
                if (ddi_parse_sleep(buf, &sl) == 0 && sl < 0)
                        abort();
                if (http_parse_retry_after(buf, 1700000000) < -1)
                        abort(); /* seconds to wait, or -1 when unparsable */
        }
        return 0;
}
