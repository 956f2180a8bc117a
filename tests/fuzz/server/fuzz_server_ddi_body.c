/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_server_ddi_body.c — libFuzzer target for the DDI body parsers and the Range parser
 * of berth-server (everything a target controls before the database is touched). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-stub/artifact/artifact.h"
#include "server-stub/ddi/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *)data;
        berr e = {0};
        struct ddi_feedback f;
        if (ddi_parse_feedback(buf, size, &f, &e) == 0)
                ddi_feedback_done(&f);
        char *out = NULL;
        struct tm_batch tm;
        berr_clear(&e);
        if (ddi_apply_config_data(buf, size, "{\"a\":\"b\"}", &out, &tm, &e) >= 0)
                free(out);
        struct ddi_confirmation c;
        berr_clear(&e);
        if (ddi_parse_confirmation(buf, size, &c, &e) == 0)
                ddi_confirmation_done(&c);
        char who[DDI_MAX_INITIATOR + 1], why[DDI_MAX_REMARK + 1];
        berr_clear(&e);
        (void)ddi_parse_autoconfirm(buf, size, who, why, &e);
        char n[DDI_MAX_NAME + 1], v[DDI_MAX_VERSION + 1];
        berr_clear(&e);
        (void)ddi_parse_installed(buf, size, n, v, &e);
        char *h = strndup(buf, size);
        if (h) {
                struct byte_range r;
                if (artifact_parse_range(h, 1000, &r) == 1 && (r.len == 0 || r.off + r.len > 1000))
                        abort();
                free(h);
        }
        return 0;
}
