/* reserve_touch GIB MIB: reserve GIB GiB of address space with MAP_NORESERVE
 * (read-write, nothing charged), then write one byte in each page of its
 * first MIB MiB. Prints what it reserved and what it touched; under a memory
 * limit smaller than MIB, the writes end it as Linux's OOM killer would. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: reserve_touch GIB MIB\n");
        return 2;
    }
    size_t gib = (size_t)atol(argv[1]) << 30, mib = (size_t)atol(argv[2]) << 20;
    char *p = mmap(NULL, gib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    printf("reserved %zu GiB\n", gib >> 30);
    fflush(stdout);
    for (size_t off = 0; off < mib && off < gib; off += 4096)
        p[off] = 1;
    printf("touched %zu MiB\n", mib >> 20);
    return 0;
}
