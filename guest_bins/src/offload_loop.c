/* offload_loop [N] [PATH]: opens PATH (default ".") and calls
 * lseek(fd, 0, SEEK_CUR) N times (default 10000) through syscall(), a small
 * call that every kernel but linux offloads to the FWK.  For
 * benchmarks/offload.py: round trips per second through the channel. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int fd = open(argc > 2 ? argv[2] : ".", O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    for (long i = 0; i < n; i++)
        if (syscall(SYS_lseek, fd, 0L, SEEK_CUR) < 0) { perror("lseek"); return 1; }
    printf("offload loop: %ld calls done\n", n);
    return 0;
}
