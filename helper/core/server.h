/*
 * ferryd's server: the unix socket, an epoll loop reading and writing
 * frames, handing requests to the worker threads, and the signals
 * (SIGTERM/SIGINT drain and stop, SIGHUP reopens the log).
 */
#ifndef FERRY_SERVER_H
#define FERRY_SERVER_H

#include <stddef.h>

#include "ferryd.h"

typedef struct server_s server_t;

/* Binds FERRY_SOCKET (replacing a stale socket file). NULL with a message. */
server_t *server_create(ferryd_t *ferry, char *err, size_t errlen);

/* Serves until SIGTERM or SIGINT, then drains. 0, or -1 on a fatal error. */
int server_run(server_t *srv);

/* Closes and removes the socket, frees everything. */
void server_destroy(server_t *srv);

#endif
