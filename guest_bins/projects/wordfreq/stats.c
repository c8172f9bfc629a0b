/* Statistics of word lengths, weighted by count: needs libm. */
#include <math.h>
#include <string.h>
#include "wordfreq.h"

struct stats length_stats(struct entry **v, size_t n) {
    struct stats s = {0, 0, 0, 0, 0};
    double sum = 0, sumsq = 0, logsum = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        double len = (double)strlen(v[i]->word), c = (double)v[i]->count;
        sum += len * c;
        sumsq += len * len * c;
        logsum += log(len) * c;
        total += c;
        if (i == 0 || (long)len < s.min) s.min = (long)len;
        if ((long)len > s.max) s.max = (long)len;
    }
    if (total > 0) {
        s.mean = sum / total;
        s.stddev = sqrt(fmax(0.0, sumsq / total - s.mean * s.mean));
        s.geomean = exp(logsum / total);
    }
    return s;
}
