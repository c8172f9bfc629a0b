/* wordfreq: count the words of stdin, print the most frequent and some
 * statistics of their lengths. */
#ifndef WORDFREQ_H
#define WORDFREQ_H
#include <stddef.h>

struct entry {
    char *word;
    long count;
    struct entry *next;
};

struct table {
    struct entry **buckets;
    size_t nbuckets, nwords;
};

/* table.c */
void table_init(struct table *t, size_t nbuckets);
void table_add(struct table *t, const char *word);
struct entry **table_sorted(const struct table *t);   /* by count, then word */
void table_free(struct table *t);

/* stats.c */
struct stats {
    double mean, stddev, geomean;
    long min, max;
};
struct stats length_stats(struct entry **entries, size_t n);
#endif
