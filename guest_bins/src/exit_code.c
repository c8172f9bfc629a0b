/* exit_code: returns 3 (or argv[1]) from main. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int code = 3;
    if (argc > 1)
        code = atoi(argv[1]);
    printf("exiting with %d\n", code);
    return code;
}
