/* smc_cores [ROUNDS]: code one thread rewrites while another thread runs it
 * (a JIT with a compiler thread), in a read-write-execute page.  main writes
 * `mov eax, N; ret` for N = 1..ROUNDS (default 50), each time after the
 * runner has seen N-1; the runner calls the code until it returns N.  Under
 * azemu with --cores 2 the two threads run on different cores, each with its
 * own translated code.  A runner that keeps seeing old code gives up after
 * 200M calls and says so (exit 1). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef int (*fn_t)(void);
static unsigned char *code;
static atomic_int seen;
static int rounds = 50;

static void emit(int n) {
    code[0] = 0xb8;                      /* mov eax, imm32 */
    memcpy(code + 1, &n, 4);
    code[5] = 0xc3;                      /* ret */
}

static void *runner(void *arg) {
    (void)arg;
    for (int want = 1; want <= rounds; want++) {
        long calls = 0;
        while (((fn_t)code)() != want)
            if (++calls > 200000000L) {
                printf("smc_cores: still the old code at round %d\n", want);
                atomic_store(&seen, -1);
                return (void *)1;
            }
        atomic_store(&seen, want);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) rounds = atoi(argv[1]);
    code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { perror("mmap"); return 2; }
    emit(1);
    pthread_t t;
    if (pthread_create(&t, NULL, runner, NULL)) { perror("pthread_create"); return 2; }
    for (int n = 2; n <= rounds; n++) {
        int s;
        while ((s = atomic_load(&seen)) != n - 1)
            if (s < 0)
                goto done;
        emit(n);
    }
done:;
    void *failed;
    pthread_join(t, &failed);
    if (failed) return 1;
    printf("smc_cores: the runner saw each of %d rewrites\n", rounds);
    return 0;
}
