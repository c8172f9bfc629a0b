/* wordstat: counts the words of its input and prints the longest ones. */
#ifndef WORDSTAT_H
#define WORDSTAT_H
#include <stddef.h>

struct word { char text[64]; int count; };

size_t split_words(const char *text, struct word *out, size_t max);
void sort_by_count(struct word *w, size_t n);
double mean_length(const struct word *w, size_t n);
#endif
