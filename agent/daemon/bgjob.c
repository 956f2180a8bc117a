/* SPDX-License-Identifier: Apache-2.0 */
/* bgjob.c — blocking work on a thread, its result on the event loop (see bgjob.h).
 * The thread writes to an eventfd when the work returns; the loop's handler joins it
 * and calls done(). */
#include "daemon/bgjob.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <systemd/sd-event.h>
#include <unistd.h>

struct bgjob {
        pthread_t thread;
        int efd;
        sd_event_source *src;
        bgjob_work_fn work;
        bgjob_done_fn done;
        void *userdata;
        int r;                  /* written by the thread before the eventfd, read after */
};

static void *job_main(void *p)
{
        struct bgjob *j = p;
        j->r = j->work(j->userdata);
        uint64_t one = 1;
        /* An eventfd write of 1 cannot block or fail short of a counter overflow. */
        while (write(j->efd, &one, sizeof one) < 0 && errno == EINTR)
                ;
        return NULL;
}

static void job_free(struct bgjob *j)
{
        sd_event_source_disable_unref(j->src);
        if (j->efd >= 0)
                close(j->efd);
        free(j);
}

static int on_job_done(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct bgjob *j = ud;
        uint64_t v;
        if (read(fd, &v, sizeof v) < 0)
                return 0; /* spurious wake-up: the thread has not finished */
        pthread_join(j->thread, NULL);
        bgjob_done_fn done = j->done;
        void *userdata = j->userdata;
        int r = j->r;
        job_free(j);
        done(userdata, r);
        return 0;
}

int bgjob_start(sd_event *ev, const char *what, bgjob_work_fn work, bgjob_done_fn done, void *userdata,
                struct bgjob **ret, berr *e)
{
        struct bgjob *j = calloc(1, sizeof *j);
        if (!j)
                return berr_set(e, -ENOMEM, "out of memory for %s", what);
        *j = (struct bgjob){.efd = -1, .work = work, .done = done, .userdata = userdata};
        j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->efd < 0) {
                int r = -errno;
                job_free(j);
                return berr_set(e, r, "cannot create an eventfd for %s: %s", what, strerror(-r));
        }
        int r = sd_event_add_io(ev, &j->src, j->efd, EPOLLIN, on_job_done, j);
        if (r < 0) {
                job_free(j);
                return berr_set(e, r, "cannot watch the eventfd of %s: %s", what, strerror(-r));
        }
        (void)sd_event_source_set_description(j->src, what);
        r = -pthread_create(&j->thread, NULL, job_main, j);
        if (r < 0) {
                job_free(j);
                return berr_set(e, r, "cannot start a thread for %s: %s", what, strerror(-r));
        }
        *ret = j;
        return 0;
}

void bgjob_wait_free(struct bgjob *j)
{
        if (!j)
                return;
        pthread_join(j->thread, NULL);
        job_free(j);
}
