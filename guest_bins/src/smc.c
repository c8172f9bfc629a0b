/* smc [ROUNDS]: code the program writes and then runs, the ways JITs do it.
 * Each case writes `mov eax, N; ret` for N = 1..ROUNDS (default 200),
 * calls it after every write and checks that it returns N — the CPU must
 * never run a stale copy of code that was rewritten:
 *   rwx        one read-write-execute page, written and run at one address
 *   wx_flip    a page flipped between PROT_READ|PROT_WRITE (written) and
 *              PROT_READ|PROT_EXEC (run) with mprotect (W^X)
 *   dual_memfd a memfd mapped twice, shared: written through a read-write
 *              view, run through a read-execute view (W^X by double mapping)
 *   dual_shm   the same with a shared anonymous mapping seen at two
 *              addresses (mremap of size 0 makes the second view)
 *   file_view  a file written through a MAP_SHARED read-write view and run
 *              through a MAP_PRIVATE read-execute view it never wrote
 * Also two stores per round to data next to the code, read back.
 * Prints one line per case; exit 1 at the first wrong result. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*fn_t)(void);
static long rounds = 200;

static void emit(unsigned char *p, int n) {
    p[0] = 0xb8;                       /* mov eax, imm32 */
    memcpy(p + 1, &n, 4);
    p[5] = 0xc3;                       /* ret */
}

static int check(const char *name, unsigned char *w, unsigned char *x, int (*prepare)(int)) {
    volatile long *data = (volatile long *)(w + 2048);
    for (int n = 1; n <= rounds; n++) {
        if (prepare && prepare(0)) return 1;
        emit(w, n);
        data[0] = n;
        data[1] = ~n;
        if (prepare && prepare(1)) return 1;
        int got = ((fn_t)x)();
        if (got != n || data[0] != n || data[1] != ~(long)n) {
            printf("%s: round %d returned %d\n", name, n, got);
            return 1;
        }
    }
    printf("%s: %ld rounds ran the code last written\n", name, rounds);
    return 0;
}

static unsigned char *flip_page;

static int flip(int to_exec) {
    return mprotect(flip_page, 4096, to_exec ? PROT_READ | PROT_EXEC : PROT_READ | PROT_WRITE);
}

static int two_views(int fd, unsigned char **w, unsigned char **x) {
    *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    return *w == MAP_FAILED || *x == MAP_FAILED;
}

int main(int argc, char **argv) {
    if (argc > 1) rounds = atol(argv[1]);
    int bad = 0;

    unsigned char *rwx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx == MAP_FAILED) { perror("mmap rwx"); return 2; }
    bad |= check("rwx", rwx, rwx, NULL);

    flip_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (flip_page == MAP_FAILED) { perror("mmap flip"); return 2; }
    bad |= check("wx_flip", flip_page, flip_page, flip);

    unsigned char *w, *x;
    int fd = memfd_create("smc", 0);
    if (fd < 0 || ftruncate(fd, 4096) || two_views(fd, &w, &x)) { perror("memfd"); return 2; }
    bad |= check("dual_memfd", w, x, NULL);

    unsigned char *shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) { perror("mmap shared"); return 2; }
    unsigned char *alias = mremap(shm, 0, 4096, MREMAP_MAYMOVE);
    if (alias == MAP_FAILED || mprotect(shm, 4096, PROT_READ | PROT_WRITE) ||
        mprotect(alias, 4096, PROT_READ | PROT_EXEC)) { perror("alias"); return 2; }
    bad |= check("dual_shm", shm, alias, NULL);

    char path[] = "/tmp/smc-XXXXXX";
    int ffd = mkstemp(path);
    if (ffd < 0 || ftruncate(ffd, 4096)) { perror("mkstemp"); return 2; }
    unlink(path);
    w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
    x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, ffd, 0);
    if (w == MAP_FAILED || x == MAP_FAILED) { perror("file views"); return 2; }
    bad |= check("file_view", w, x, NULL);
    return bad;
}
