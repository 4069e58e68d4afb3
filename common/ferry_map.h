/*
 * A string -> pointer map (keys copied), the one hash table of ferryd's
 * lookups: the bulk archive's users and channels, the export's tokens.
 */
#ifndef FERRY_MAP_H
#define FERRY_MAP_H

#include <stddef.h>

/* Zeroed: an empty map. */
typedef struct {
    char **keys;
    void **vals;
    size_t cap;
    size_t n;
} ferry_map_t;

/* The value of k, or NULL. */
void *ferry_map_get(const ferry_map_t *m, const char *k);

/* Sets k's value; the key as the map keeps it, or NULL when out of
 * memory. */
const char *ferry_map_put(ferry_map_t *m, const char *k, void *v);

/* Frees the keys, each value with val_free (NULL: left alone), and empties
 * the map. */
void ferry_map_free(ferry_map_t *m, void (*val_free)(void *));

#endif
