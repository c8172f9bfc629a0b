/* crash_null: stores through a NULL pointer -> SIGSEGV. */
#include <stdio.h>

/* volatile pointer variable so the compiler cannot see the NULL constant
 * (otherwise GCC may replace the store by a ud2 trap -> SIGILL). */
static volatile int *volatile p = 0;

int main(void)
{
    printf("about to crash\n");
    fflush(stdout);
    *p = 1;
    printf("still alive?!\n");
    return 0;
}
