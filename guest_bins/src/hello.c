/* hello: minimal stdio test. */
#include <stdio.h>

int main(void)
{
    printf("Hello, world!\n");
    printf("%d %.3f %s\n", 42, 3.14159, "azemu");
    return 0;
}
