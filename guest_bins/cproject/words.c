#include <ctype.h>
#include <string.h>
#include "wordstat.h"

size_t split_words(const char *text, struct word *out, size_t max)
{
    size_t n = 0;
    while (*text) {
        while (*text && !isalpha((unsigned char)*text)) text++;
        char buf[64];
        size_t len = 0;
        while (*text && isalpha((unsigned char)*text)) {
            if (len < sizeof buf - 1) buf[len++] = (char)tolower((unsigned char)*text);
            text++;
        }
        if (!len) break;
        buf[len] = 0;
        size_t i;
        for (i = 0; i < n && strcmp(out[i].text, buf); i++) ;
        if (i < n) out[i].count++;
        else if (n < max) { strcpy(out[n].text, buf); out[n++].count = 1; }
    }
    return n;
}
