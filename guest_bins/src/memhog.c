/* memhog [STEP_MIB]: maps and touches anonymous memory STEP_MIB (default 4)
 * at a time until mmap fails, then tries malloc and brk growth, and prints
 * how much it got and the error: under `azemu exec --mem SIZE` the kernel
 * instance runs out at SIZE, with ENOMEM, while the host does not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    size_t step = (size_t)(argc > 1 ? atol(argv[1]) : 4) << 20;
    size_t got = 0;
    for (;;) {
        char *p = mmap(NULL, step, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("mmap failed after %zu MiB: %s\n", got >> 20, errno == ENOMEM ? "ENOMEM" : "other");
            break;
        }
        memset(p, 0x5a, step);
        got += step;
        if (got > ((size_t)64 << 30)) { printf("no limit reached\n"); return 1; }
    }
    void *m = malloc(step);
    printf("malloc after that: %s\n", m ? "succeeded" : "NULL");
    return 0;
}
