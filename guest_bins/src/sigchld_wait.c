/* A SIGCHLD handler (without SA_RESTART) while the parent waits.  Linux:
 * a wait that the child's change ends returns that child, and the handler
 * runs on the way out; a wait for another child is interrupted (EINTR).
 * Deterministic output, compared with the same binary run natively. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int handled;

static void on_chld(int sig)
{
    (void)sig;
    handled++;
}

static const char *what(pid_t r, pid_t want)
{
    return r == want ? "its pid" : r < 0 ? strerror(errno) : "another pid";
}

int main(void)
{
    struct sigaction sa;
    int st = 0;
    pid_t r;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;                     /* no SA_RESTART */
    sigaction(SIGCHLD, &sa, NULL);

    pid_t a = fork();
    if (a == 0) { usleep(100000); _exit(3); }
    r = waitpid(a, &st, 0);
    printf("wait for the child that exits: %s, status %d, handler ran %d\n",
           what(r, a), r == a ? WEXITSTATUS(st) : -1, handled);

    pid_t b = fork();
    if (b == 0) { usleep(100000); _exit(4); }
    pid_t c = fork();
    if (c == 0) { usleep(600000); _exit(5); }
    r = waitpid(c, &st, 0);                      /* b ends first: its SIGCHLD interrupts */
    printf("wait for another child: %s, handler ran %d\n", what(r, c), handled);
    r = waitpid(c, &st, 0);
    printf("again: %s, status %d, handler ran %d\n", what(r, c), r == c ? WEXITSTATUS(st) : -1, handled);
    r = waitpid(b, &st, 0);
    printf("the first one: %s, status %d\n", what(r, b), r == b ? WEXITSTATUS(st) : -1);

    pid_t d = fork();
    if (d == 0) { raise(SIGSTOP); _exit(6); }
    r = waitpid(d, &st, WUNTRACED);
    printf("wait for a stop: %s, stopped by %s, handler ran %d\n", what(r, d),
           r == d && WIFSTOPPED(st) ? strsignal(WSTOPSIG(st)) : "-", handled);
    kill(d, SIGCONT);
    do
        r = waitpid(d, &st, 0);
    while (r < 0 && errno == EINTR);             /* CLD_CONTINUED may come first */
    printf("after SIGCONT: %s, status %d\n", what(r, d), r == d ? WEXITSTATUS(st) : -1);
    return 0;
}
