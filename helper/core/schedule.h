/*
 * Periodic work (report sweeps, purges of expired keys, later the Grist
 * cycle): one thread runs each task when ferryd starts and then every
 * `every` seconds. A task is short; long work is a job it creates.
 */
#ifndef FERRY_SCHEDULE_H
#define FERRY_SCHEDULE_H

#include "ferryd.h"

typedef struct schedule_s schedule_t;

typedef void (*schedule_pt)(ferryd_t *ferry);

schedule_t *schedule_create(ferryd_t *ferry);

/* Before schedule_start(). 0, or -1 when out of room or memory. */
int schedule_add(schedule_t *s, const char *name, int every, schedule_pt run);

int schedule_start(schedule_t *s);

/* Waits for a running task to end; frees s. */
void schedule_stop(schedule_t *s);

#endif
