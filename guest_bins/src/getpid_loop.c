/* getpid_loop: issues raw getpid syscalls in a loop (syscall overhead test). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    long n = 10000;
    if (argc > 1)
        n = strtol(argv[1], NULL, 0);
    long first = syscall(SYS_getpid);
    for (long i = 0; i < n; i++) {
        if (syscall(SYS_getpid) != first) {
            printf("getpid loop: inconsistent result at call %ld\n", i);
            return 1;
        }
    }
    printf("getpid loop: %ld calls done\n", n);
    return 0;
}
