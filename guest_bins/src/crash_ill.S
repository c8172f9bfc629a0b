/* crash_ill: writes a line, then executes ud2 (an invalid opcode) -> SIGILL. */
    .globl _start
    .text
_start:
    mov     $1, %eax                /* write(1, msg, len) */
    mov     $1, %edi
    lea     msg(%rip), %rsi
    mov     $len, %edx
    syscall
    ud2
    .section .rodata
msg: .ascii "about to execute ud2\n"
    .set len, . - msg
