/* SPDX-License-Identifier: Apache-2.0 */
/* ddi.h — the hawkBit Direct Device Integration (DDI) v1 API served to targets.
 *
 * Paths under /{tenant}/controller/v1/{controllerId}: base poll, deploymentBase and its
 * feedback, confirmationBase (consent) and its feedback and auto-confirm switches,
 * cancelAction and its feedback, configData, installedBase, and artifact downloads under
 * softwaremodules/{id}/artifacts/{filename}. Every request is
 * authenticated before the target is looked at; a target only ever sees its own actions.
 */
#pragma once

struct http_request;

/* The http handler for the device listener; userdata is the struct server. */
void ddi_handle(void *userdata, struct http_request *r);
