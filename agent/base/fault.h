/* SPDX-License-Identifier: Apache-2.0 */
/* fault.h — named fault points for crash tests (compiled only with -DBERTH_FAULT_POINTS=ON).
 *
 * FAULT_POINT("switch.after_stop_old") kills the process with SIGKILL when the
 * environment variable BERTH_FAULT equals that name, so a test can stop berth at an
 * exact step of a state machine and check that a restart converges. With
 * BERTH_FAULT_PAUSE=NAME:FILE the thread that reaches NAME waits there until FILE exists,
 * so a test can look at the process while it is held at that step (and then release
 * it). In normal builds the macro expands to nothing.
 */
#pragma once

#ifdef BERTH_FAULT_POINTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void fault_point(const char *name)
{
        const char *f = getenv("BERTH_FAULT");
        if (f && !strcmp(f, name))
                (void)kill(getpid(), SIGKILL);
        const char *p = getenv("BERTH_FAULT_PAUSE");
        size_t n = strlen(name);
        if (p && !strncmp(p, name, n) && p[n] == ':')
                while (access(p + n + 1, F_OK) < 0)
                        (void)usleep(10000);
}
#define FAULT_POINT(name) fault_point(name)
#else
#define FAULT_POINT(name) ((void)0)
#endif
