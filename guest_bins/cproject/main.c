#include <stdio.h>
#include "wordstat.h"

static const char TEXT[] =
    "The full-weight kernel serves the files; the lightweight kernel runs the "
    "program; the unikernel runs the program and its kernel as one.";

int main(void)
{
    static struct word w[256];
    size_t n = split_words(TEXT, w, 256);
    sort_by_count(w, n);
    printf("%zu distinct words, mean length %.2f\n", n, mean_length(w, n));
    for (size_t i = 0; i < n && i < 5; i++) printf("%-12s %d\n", w[i].text, w[i].count);
    return 0;
}
