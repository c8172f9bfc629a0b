/* readfile PATH [BUFSIZE]: reads PATH to the end with read() calls of
 * BUFSIZE bytes (default 1 MiB) and prints the byte count.  For
 * benchmarks/offload.py: bulk read throughput through the FWK.  It reads as
 * GNU cat does: the file advised as read sequentially, then read() to the end. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: readfile PATH [BUFSIZE]\n"); return 2; }
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 1 << 20;
    char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0 || buf == MAP_FAILED) { perror("readfile"); return 1; }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    long long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, size)) > 0)
        total += n;
    if (n < 0) { perror("read"); return 1; }
    printf("read %lld bytes\n", total);
    return 0;
}
