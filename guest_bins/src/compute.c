/* compute: CPU-bound xorshift64* loop with no syscalls inside. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = 20000000;
    if (argc > 1)
        n = strtol(argv[1], NULL, 0);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    uint64_t acc = 0;
    for (long i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        acc += x * 0x2545F4914F6CDD1DULL;
        acc = (acc << 7) | (acc >> 57);
    }
    printf("compute: %ld iterations\n", n);
    printf("x=%016" PRIx64 "\n", x);
    printf("acc=%016" PRIx64 "\n", acc);
    return 0;
}
