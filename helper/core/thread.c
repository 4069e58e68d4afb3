/*
 * A new thread inherits the creating thread's signal mask: block all
 * around pthread_create() and restore the caller's mask after.
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
