/*
 * Open addressing with linear probing, FNV-1a hashes, at most half full;
 * the capacity is a power of two.
 */
#include "ferry_map.h"

#include <stdlib.h>
#include <string.h>


static size_t
ferry_map_hash(const char *k)
{
    size_t h = 14695981039346656037UL;

    while (*k) {
        h = (h ^ (unsigned char) *k++) * 1099511628211UL;
    }

    return h;
}

void *
ferry_map_get(const ferry_map_t *m, const char *k)
{
    size_t i;

    if (m->cap == 0 || k == NULL) {
        return NULL;
    }
    for (i = ferry_map_hash(k) & (m->cap - 1); m->keys[i];
         i = (i + 1) & (m->cap - 1))
    {
        if (strcmp(m->keys[i], k) == 0) {
            return m->vals[i];
        }
    }

    return NULL;
}

const char *
ferry_map_put(ferry_map_t *m, const char *k, void *v)
{
    ferry_map_t g;
    size_t      i;

    if (m->n * 2 >= m->cap) {
        g.cap = m->cap ? m->cap * 2 : 256;
        g.n = 0;
        g.keys = calloc(g.cap, sizeof(char *));
        g.vals = calloc(g.cap, sizeof(void *));
        if (g.keys == NULL || g.vals == NULL) {
            free(g.keys);
            free(g.vals);
            return NULL;
        }
        for (i = 0; i < m->cap; i++) {
            if (m->keys[i]) {
                size_t j = ferry_map_hash(m->keys[i]) & (g.cap - 1);

                while (g.keys[j]) {
                    j = (j + 1) & (g.cap - 1);
                }
                g.keys[j] = m->keys[i];
                g.vals[j] = m->vals[i];
                g.n++;
            }
        }
        free(m->keys);
        free(m->vals);
        *m = g;
    }

    for (i = ferry_map_hash(k) & (m->cap - 1); m->keys[i];
         i = (i + 1) & (m->cap - 1))
    {
        if (strcmp(m->keys[i], k) == 0) {
            m->vals[i] = v;
            return m->keys[i];
        }
    }
    m->keys[i] = strdup(k);
    if (m->keys[i] == NULL) {
        return NULL;
    }
    m->vals[i] = v;
    m->n++;

    return m->keys[i];
}

void
ferry_map_free(ferry_map_t *m, void (*val_free)(void *))
{
    size_t i;

    for (i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            free(m->keys[i]);
            if (val_free) {
                val_free(m->vals[i]);
            }
        }
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}
