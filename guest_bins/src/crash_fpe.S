/* crash_fpe: writes a line, then divides by zero -> SIGFPE. */
    .globl _start
    .text
_start:
    mov     $1, %eax
    mov     $1, %edi
    lea     msg(%rip), %rsi
    mov     $len, %edx
    syscall
    xor     %ecx, %ecx
    mov     $7, %eax
    cqto
    idiv    %rcx
    mov     $231, %eax
    xor     %edi, %edi
    syscall
    .section .rodata
msg: .ascii "about to divide by zero\n"
    .set len, . - msg
