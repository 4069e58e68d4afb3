/*
 * Levelled logging: each line is formatted whole and written with one
 * write(2), so lines from several threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level = FERRY_LOG_INFO;

static int             log_fd = 2;
static char           *log_path;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

int
log_level_parse(const char *s)
{
    int i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(s, log_names[i]) == 0) {
            return i;
        }
    }

    if (strcasecmp(s, "warning") == 0) {
        return FERRY_LOG_WARN;
    }

    return -1;
}

static int
log_open_path(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_open(const char *path)
{
    int   fd;
    char *dup;

    if (path == NULL || path[0] == '\0') {
        return 0;
    }

    fd = log_open_path(path);
    if (fd == -1) {
        return -1;
    }

    dup = strdup(path);
    if (dup == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }

    pthread_mutex_lock(&log_lock);
    free(log_path);
    log_path = dup;
    if (log_fd != 2) {
        close(log_fd);
    }
    log_fd = fd;
    pthread_mutex_unlock(&log_lock);

    return 0;
}

int
log_reopen(void)
{
    int fd;

    if (log_path == NULL) {
        return 0;
    }

    fd = log_open_path(log_path);
    if (fd == -1) {
        return -1;
    }

    pthread_mutex_lock(&log_lock);
    close(log_fd);
    log_fd = fd;
    pthread_mutex_unlock(&log_lock);

    return 0;
}

void
log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_fd != 2) {
        close(log_fd);
        log_fd = 2;
    }
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&log_lock);
}

size_t
log_time(char *buf, size_t len)
{
    struct timeval tv;
    struct tm      tm;
    size_t         n;
    int            k;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);

    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(buf + n, len - n, ".%03dZ", (int) (tv.tv_usec / 1000));

    return n + (k > 0 ? (size_t) k : 0);
}

void
log_write(int level, const char *tag, const char *fmt, ...)
{
    char    line[4096];
    size_t  n;
    int     k;
    va_list ap;

    n = log_time(line, sizeof(line));
    k = snprintf(
        line + n, sizeof(line) - n, " %-5s [%s] ", log_names[level], tag);
    n += (size_t) k;

    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);

    if (k < 0) {
        k = 0;
    }

    n += (size_t) k < sizeof(line) - n - 1 ? (size_t) k : sizeof(line) - n - 2;
    line[n++] = '\n';

    pthread_mutex_lock(&log_lock);
    if (write(log_fd, line, n) < 0) {
        /* nowhere left to say so */
    }
    pthread_mutex_unlock(&log_lock);
}
