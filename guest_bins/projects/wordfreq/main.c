/* wordfreq [TOP]: reads words (letters and digits) from stdin, prints the TOP
 * (default 10) most frequent with their counts, then statistics of their
 * lengths.  A multi-file project for `make CC="azemu cc"`. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include "wordfreq.h"

int main(int argc, char **argv) {
    long top = argc > 1 ? atol(argv[1]) : 10;
    struct table t;
    table_init(&t, 1024);
    char word[256];
    size_t len = 0;
    long total = 0;
    for (int c; (c = getchar()) != EOF || len;) {
        if (c != EOF && isalnum(c) && len < sizeof word - 1) {
            word[len++] = (char)tolower(c);
            continue;
        }
        if (len) {
            word[len] = 0;
            table_add(&t, word);
            total++;
            len = 0;
        }
        if (c == EOF)
            break;
    }
    struct entry **v = table_sorted(&t);
    printf("%ld words, %zu different\n", total, t.nwords);
    for (long i = 0; i < top && i < (long)t.nwords; i++)
        printf("%6ld  %s\n", v[i]->count, v[i]->word);
    struct stats s = length_stats(v, t.nwords);
    printf("length: mean %.4f, stddev %.4f, geometric mean %.4f, min %ld, max %ld\n",
           s.mean, s.stddev, s.geomean, s.min, s.max);
    free(v);
    table_free(&t);
    return 0;
}
