/* A chained hash table of words (FNV-1a). */
#include <stdlib.h>
#include <string.h>
#include "wordfreq.h"

static size_t hash(const char *s) {
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

void table_init(struct table *t, size_t nbuckets) {
    t->buckets = calloc(nbuckets, sizeof *t->buckets);
    t->nbuckets = nbuckets;
    t->nwords = 0;
}

void table_add(struct table *t, const char *word) {
    size_t i = hash(word) % t->nbuckets;
    for (struct entry *e = t->buckets[i]; e; e = e->next)
        if (strcmp(e->word, word) == 0) {
            e->count++;
            return;
        }
    struct entry *e = malloc(sizeof *e);
    e->word = strdup(word);
    e->count = 1;
    e->next = t->buckets[i];
    t->buckets[i] = e;
    t->nwords++;
}

static int by_count(const void *a, const void *b) {
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

struct entry **table_sorted(const struct table *t) {
    struct entry **v = malloc((t->nwords + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct entry *e = t->buckets[i]; e; e = e->next)
            v[n++] = e;
    qsort(v, n, sizeof *v, by_count);
    return v;
}

void table_free(struct table *t) {
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e->word);
            free(e);
        }
    free(t->buckets);
}
