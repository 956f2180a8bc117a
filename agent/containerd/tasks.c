/* SPDX-License-Identifier: Apache-2.0 */
/* tasks.c — see tasks.h. */
#include "containerd/tasks.h"

#include <errno.h>
#include <string.h>

#include "containerd/services/tasks.pb-c.h"
#include "grpc/grpc.h"

#define M_TASKS "/containerd.services.tasks.v1.Tasks/"

int ctrd_task_create(struct ctrd *c, const char *id, const struct ctrd_mounts *rootfs, const char *out,
                     const char *err, uint32_t *ret_pid, berr *e)
{
        Containerd__Services__Tasks__V1__CreateTaskRequest req = CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        req.container_id = (char *)id;
        req.rootfs = (Containerd__Types__Mount **)rootfs->mounts;
        req.n_rootfs = rootfs->n_mounts;
        req.stdout = (char *)(out ? out : "");
        req.stderr = (char *)(err ? err : "");
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "Create", &req.base,
                           &containerd__services__tasks__v1__create_task_response__descriptor, 60000, &resp, e);
        if (r < 0)
                return r;
        if (ret_pid)
                *ret_pid = ((const Containerd__Services__Tasks__V1__CreateTaskResponse *)(const void *)resp)->pid;
        return 0;
}

int ctrd_task_start(struct ctrd *c, const char *id, const char *exec_id, uint32_t *ret_pid, berr *e)
{
        Containerd__Services__Tasks__V1__StartRequest req = CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        req.container_id = (char *)id;
        req.exec_id = (char *)(exec_id ? exec_id : "");
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "Start", &req.base,
                           &containerd__services__tasks__v1__start_response__descriptor, 60000, &resp, e);
        if (r < 0)
                return r;
        if (ret_pid)
                *ret_pid = ((const Containerd__Services__Tasks__V1__StartResponse *)(const void *)resp)->pid;
        return 0;
}

int ctrd_task_get(struct ctrd *c, const char *id, const char *exec_id, struct ctrd_task_info *ret, berr *e)
{
        Containerd__Services__Tasks__V1__GetRequest req = CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        berr tmp = {0};
        req.container_id = (char *)id;
        req.exec_id = (char *)(exec_id ? exec_id : "");
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "Get", &req.base,
                           &containerd__services__tasks__v1__get_response__descriptor, 0, &resp, &tmp);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                if (e)
                        *e = tmp;
                return r;
        }
        const Containerd__Services__Tasks__V1__GetResponse *g = (const void *)resp;
        if (!g->process)
                return -ENOENT;
        *ret = (struct ctrd_task_info) {
                .status = (enum ctrd_task_status)g->process->status,
                .pid = g->process->pid,
                .exit_status = g->process->exit_status,
        };
        return 0;
}

int ctrd_task_kill(struct ctrd *c, const char *id, const char *exec_id, int sig, bool all, berr *e)
{
        Containerd__Services__Tasks__V1__KillRequest req = CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
        berr tmp = {0};
        req.container_id = (char *)id;
        req.exec_id = (char *)(exec_id ? exec_id : "");
        req.signal = (uint32_t)sig;
        req.all = all;
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "Kill", &req.base, &google__protobuf__empty__descriptor, 0, NULL,
                           &tmp);
        if (r < 0 && r != -ENOENT && e)
                *e = tmp;
        return r;
}

int ctrd_task_delete(struct ctrd *c, const char *id, uint32_t *ret_exit_status, berr *e)
{
        Containerd__Services__Tasks__V1__DeleteTaskRequest req = CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        berr tmp = {0};
        req.container_id = (char *)id;
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "Delete", &req.base,
                           &containerd__services__tasks__v1__delete_response__descriptor, 60000, &resp, &tmp);
        if (r == -ENOENT) {
                if (ret_exit_status)
                        *ret_exit_status = 0;
                return 0;
        }
        if (r < 0) {
                if (e)
                        *e = tmp;
                return r;
        }
        if (ret_exit_status)
                *ret_exit_status = ((const Containerd__Services__Tasks__V1__DeleteResponse *)(const void *)resp)->exit_status;
        return 0;
}

int ctrd_task_exec(struct ctrd *c, const char *id, const char *exec_id, const char *process_json, const char *output,
                   berr *e)
{
        Containerd__Services__Tasks__V1__ExecProcessRequest req =
                CONTAINERD__SERVICES__TASKS__V1__EXEC_PROCESS_REQUEST__INIT;
        Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
        spec.type_url = (char *)CTRD_PROCESS_TYPE_URL;
        spec.value.data = (uint8_t *)process_json;
        spec.value.len = strlen(process_json);
        req.container_id = (char *)id;
        req.exec_id = (char *)exec_id;
        req.spec = &spec;
        req.stdout = (char *)(output ? output : "");
        req.stderr = (char *)(output ? output : "");
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "Exec", &req.base, &google__protobuf__empty__descriptor, 0, NULL, e);
        if (r < 0)
                return r;
        return ctrd_task_start(c, id, exec_id, NULL, e);
}

int ctrd_task_wait(struct ctrd *c, const char *id, const char *exec_id, uint64_t timeout_ms,
                   uint32_t *ret_exit_status, berr *e)
{
        Containerd__Services__Tasks__V1__WaitRequest req = CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        req.container_id = (char *)id;
        req.exec_id = (char *)(exec_id ? exec_id : "");
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "Wait", &req.base,
                           &containerd__services__tasks__v1__wait_response__descriptor, timeout_ms ? timeout_ms : 1,
                           &resp, e);
        if (r < 0)
                return r;
        if (ret_exit_status)
                *ret_exit_status = ((const Containerd__Services__Tasks__V1__WaitResponse *)(const void *)resp)->exit_status;
        return 0;
}

int ctrd_task_delete_process(struct ctrd *c, const char *id, const char *exec_id, berr *e)
{
        Containerd__Services__Tasks__V1__DeleteProcessRequest req =
                CONTAINERD__SERVICES__TASKS__V1__DELETE_PROCESS_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        berr tmp = {0};
        req.container_id = (char *)id;
        req.exec_id = (char *)exec_id;
        int r = grpc_unary(ctrd_grpc(c), M_TASKS "DeleteProcess", &req.base,
                           &containerd__services__tasks__v1__delete_response__descriptor, 0, &resp, &tmp);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && e)
                *e = tmp;
        return r;
}
