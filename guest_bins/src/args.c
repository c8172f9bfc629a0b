/* args: prints argc, argv[] and AZEMU_* environment variables. */
#include <stdio.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "AZEMU_", 6) == 0)
            printf("env %s\n", *e);
    return 0;
}
