/*
 * Starting ferryd's threads: every one of them (handler workers, job
 * runners, the scheduler, the HTTP event thread) runs with every signal
 * blocked, since signals belong to the event loop's signalfd.
 */
#ifndef FERRY_THREAD_H
#define FERRY_THREAD_H

#include <pthread.h>
#include <time.h>

/* pthread_create() with every signal blocked in the new thread; 0 or its
 * error number. */
int thread_start(pthread_t *t, void *(*run)(void *), void *arg);

/* The time ms milliseconds from now on clock, for pthread_cond_timedwait()
 * on a condition variable of that clock. */
void thread_deadline(struct timespec *at, clockid_t clock, int ms);

#endif
