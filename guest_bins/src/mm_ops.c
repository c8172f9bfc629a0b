/* mm_ops OP NMAPS CALLS [THREADS]: the cost of a mapping change in a busy
 * address space.
 * First creates NMAPS separate one-page anonymous mappings (alternately
 * read-only and read-write, each touched, so that no two merge), then makes
 * CALLS changes of one kind:
 *   mprotect   flip one page of a fresh two-page mapping between PROT_READ and
 *              PROT_READ|PROT_WRITE (touching it after each write-enable)
 *   mapunmap   mmap one page and munmap it again (the pair alone)
 *   mmap       mmap one page, touch it, and munmap it again
 *   getpid     getpid (the reference: one trapped syscall)
 * With THREADS > 1, THREADS-1 more threads first touch the address space
 * (each on a core of its own under azemu) and then wait on a barrier (a
 * futex) until main is done: every change must reach their cores too (a TLB
 * shootdown).
 * Prints the op and the counts on stdout, and on stderr the time the CALLS
 * changes took, as `ns/call: N` (CLOCK_MONOTONIC around the loop), for
 * benchmarks/mm.py. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_barrier_t started, done;

static void *waiter(void *arg) {
    (void)arg;
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&done);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: mm_ops mprotect|mmap|getpid NMAPS CALLS\n");
        return 2;
    }
    const char *op = argv[1];
    long nmaps = atol(argv[2]), calls = atol(argv[3]);
    long nthreads = argc > 4 ? atol(argv[4]) : 1;
    pthread_t tids[256];
    if (nthreads < 1 || nthreads > 256) {
        fprintf(stderr, "mm_ops: THREADS must be 1..256\n");
        return 2;
    }
    pthread_barrier_init(&started, NULL, (unsigned)nthreads);
    pthread_barrier_init(&done, NULL, (unsigned)nthreads);
    for (long i = 1; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, waiter, NULL)) { perror("pthread_create"); return 1; }
    pthread_barrier_wait(&started);
    for (long i = 0; i < nmaps; i++) {
        char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { perror("mmap"); return 1; }
        p[0] = 1;
        if (i % 2 && mprotect(p, 4096, PROT_READ)) { perror("mprotect"); return 1; }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (strcmp(op, "mprotect") == 0) {
        char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { perror("mmap"); return 1; }
        for (long i = 0; i < calls; i++) {
            int prot = i % 2 ? PROT_READ | PROT_WRITE : PROT_READ;
            if (mprotect(p, 4096, prot)) { perror("mprotect"); return 1; }
            if (prot & PROT_WRITE)
                p[0] = (char)i;
        }
    } else if (strcmp(op, "mmap") == 0) {
        for (long i = 0; i < calls; i++) {
            char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) { perror("mmap"); return 1; }
            p[0] = 1;
            if (munmap(p, 4096)) { perror("munmap"); return 1; }
        }
    } else if (strcmp(op, "mapunmap") == 0) {         /* the pair alone: no page touched */
        for (long i = 0; i < calls; i++) {
            char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) { perror("mmap"); return 1; }
            if (munmap(p, 4096)) { perror("munmap"); return 1; }
        }
    } else if (strcmp(op, "getpid") == 0) {
        for (long i = 0; i < calls; i++)
            syscall(SYS_getpid);
    } else {
        fprintf(stderr, "mm_ops: unknown op %s\n", op);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "ns/call: %.1f\n", calls ? ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / calls : 0.0);
    pthread_barrier_wait(&done);
    for (long i = 1; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    printf("%s: %ld mappings, %ld calls, %ld threads\n", op, nmaps, calls, nthreads);
    return 0;
}
