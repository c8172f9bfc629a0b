#include <stdio.h>
/* a constant table placed in .text (as some hand-written code does) */
__attribute__((section(".text"), used)) static const unsigned char tbl[16] =
  {0x90,0x90,0x90,0x90,0x90,0x90,0x90,0x90,0x90,0x90,0x90,0x0f,0x05,0x90,0x90,0x90};
int main(void){
  unsigned s = 0; for (int i = 0; i < 16; i++) s = s*31 + tbl[i];
  printf("sum=%u\n", s); return 0;
}
