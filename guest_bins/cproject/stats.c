#include <stdlib.h>
#include <string.h>
#include "wordstat.h"

static int by_count(const void *a, const void *b)
{
    const struct word *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : strcmp(x->text, y->text);
}

void sort_by_count(struct word *w, size_t n) { qsort(w, n, sizeof *w, by_count); }

double mean_length(const struct word *w, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) total += strlen(w[i].text);
    return n ? total / n : 0;
}
