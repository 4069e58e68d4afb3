/*
 * Levelled logging for ferryd: one line per event, to stderr or LOG_FILE,
 * "2026-11-24T02:32:15.123Z INFO  [tag] message". Thread-safe.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stddef.h>

enum { FERRY_LOG_DEBUG = 0, FERRY_LOG_INFO, FERRY_LOG_WARN, FERRY_LOG_ERROR };

extern int log_level;

/* Parses "debug", "info", "warn", "error"; -1 for anything else. */
int log_level_parse(const char *s);

/* Opens path for appending (NULL or "" for stderr); 0 or -1 with errno. */
int log_open(const char *path);
/* Reopens the same path (after logrotate moved it away). */
int  log_reopen(void);
void log_close(void);

void log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The time now as a log line starts with it, ISO 8601 UTC to the
 * millisecond ("2026-11-24T02:32:15.123Z"), into buf of LOG_TIME_LEN or
 * more; returns its length. */
#define LOG_TIME_LEN 32
size_t log_time(char *buf, size_t len);

#define log_at(level, tag, ...)                                                \
    do {                                                                       \
        if ((level) >= log_level) {                                            \
            log_write((level), (tag), __VA_ARGS__);                            \
        }                                                                      \
    } while (0)

#define log_debug(tag, ...) log_at(FERRY_LOG_DEBUG, tag, __VA_ARGS__)
#define log_info(tag, ...)  log_at(FERRY_LOG_INFO, tag, __VA_ARGS__)
#define log_warn(tag, ...)  log_at(FERRY_LOG_WARN, tag, __VA_ARGS__)
#define log_error(tag, ...) log_at(FERRY_LOG_ERROR, tag, __VA_ARGS__)

#endif
