/*
 * A new thread inherits the creating thread's signal mask: block all
 * around pthread_create() and restore the caller's mask after. And the
 * deadline of a timed wait.
 */
#include "thread.h"

#include <signal.h>

int
thread_start(pthread_t *t, void *(*run)(void *), void *arg)
{
    sigset_t all, old;
    int      rc;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(t, NULL, run, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    return rc;
}

void
thread_deadline(struct timespec *at, clockid_t clock, int ms)
{
    clock_gettime(clock, at);
    at->tv_sec += ms / 1000;
    at->tv_nsec += (long) (ms % 1000) * 1000000L;
    if (at->tv_nsec >= 1000000000L) {
        at->tv_sec++;
        at->tv_nsec -= 1000000000L;
    }
}
