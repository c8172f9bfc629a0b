/* Fork and copy-on-write, for teaching lab 7 (docs/labs/lab7-fork-and-cow.md).
 *
 *   cow PAGES WRITTEN
 *
 * The parent touches PAGES pages of its heap, forks, and the child writes to
 * WRITTEN of them and exits; the parent waits and then checks its own pages
 * still hold what it wrote.  Each page the child writes is one copy-on-write
 * fault: `azemu exec --stats cow 256 64` shows how many, and what they cost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long pages = argc > 1 ? atol(argv[1]) : 256;
    long written = argc > 2 ? atol(argv[2]) : 64;
    long size = sysconf(_SC_PAGESIZE);
    if (pages < 1 || written < 0 || written > pages) {
        fprintf(stderr, "usage: cow PAGES WRITTEN (0 <= WRITTEN <= PAGES)\n");
        return 2;
    }
    char *mem = aligned_alloc(size, pages * size);
    for (long i = 0; i < pages; i++)
        memset(mem + i * size, 'p', size);          /* the parent's pages, all present */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (long i = 0; i < written; i++)
            mem[i * size] = 'c';                    /* one copy-on-write fault each */
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    long intact = 0;
    for (long i = 0; i < pages; i++)
        intact += mem[i * size] == 'p';
    printf("parent: %ld of %ld pages as it wrote them; child wrote %ld and exited %d\n",
           intact, pages, written, WEXITSTATUS(status));
    return 0;
}
