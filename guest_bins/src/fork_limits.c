/* fork_limits nproc|bomb: how fork ends when it must.
 *   nproc  as root, set RLIMIT_NPROC to 4 and become nobody (65534), then fork
 *          children until fork fails: Linux says EAGAIN once the user has 4
 *          processes (this one and 3 children).  Prints "not root" otherwise.
 *   bomb   fork children until fork fails, as a fork bomb would; prints the
 *          error and how many there were, then lets them all go and reaps
 *          them.  Under azemu --mem, the instance's memory or its process
 *          limit ends it with ENOMEM or EAGAIN; do not run it natively.
 * The children wait on a pipe whose writer only the parent holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int spawn_until_failure(int max, int *err)
{
    int pp[2], n = 0;
    char c;
    if (pipe(pp)) return -1;
    for (; n < max; n++) {
        pid_t pid = fork();
        if (pid < 0) { *err = errno; break; }
        if (pid == 0) {
            close(pp[1]);
            ssize_t r = read(pp[0], &c, 1);        /* EOF when the parent lets go */
            _exit(r == 0 ? 0 : 1);
        }
    }
    close(pp[0]);
    close(pp[1]);
    int reaped = 0, st, clean = 1;
    while (wait(&st) > 0) {
        reaped++;
        clean = clean && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    printf("reaped %d children, all exited 0: %s\n", reaped, clean ? "yes" : "no");
    return n;
}

static const char *name(int e)
{
    return e == EAGAIN ? "EAGAIN" : e == ENOMEM ? "ENOMEM" : e ? strerror(e) : "no error";
}

int main(int argc, char **argv)
{
    int err = 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "nproc") == 0) {
        if (getuid() != 0) { printf("not root\n"); return 0; }
        struct rlimit rl = {4, 4};
        if (setrlimit(RLIMIT_NPROC, &rl) || setresgid(65534, 65534, 65534) ||
            setresuid(65534, 65534, 65534)) { perror("setup"); return 1; }
        int n = spawn_until_failure(100, &err);
        printf("as nobody with RLIMIT_NPROC 4: fork failed with %s after %d children\n", name(err), n);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "bomb") == 0) {
        int n = spawn_until_failure(1 << 20, &err);
        printf("fork failed with %s after %d children\n", name(err), n);
        return 0;
    }
    fprintf(stderr, "usage: fork_limits nproc|bomb\n");
    return 2;
}
