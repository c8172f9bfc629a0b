/* compute_raw: a register-only loop (xorshift64) with no memory traffic and no
 * syscalls inside, for measuring raw emulation speed.  Iterations: first
 * argument (decimal), default 10,000,000.  Exits with the low byte of the
 * result (deterministic) so the run can be checked. */
    .globl _start
    .text
_start:
    mov     $10000000, %r12
    cmpq    $2, (%rsp)
    jl      2f
    mov     16(%rsp), %rsi
    xor     %r12, %r12
1:  movzbl  (%rsi), %eax
    sub     $'0', %eax
    cmp     $9, %eax
    ja      2f
    imul    $10, %r12, %r12
    add     %rax, %r12
    inc     %rsi
    jmp     1b
2:  mov     $0x9E3779B97F4A7C15, %rax
    test    %r12, %r12
    jz      4f
3:  mov     %rax, %rdx
    shl     $13, %rdx
    xor     %rdx, %rax
    mov     %rax, %rdx
    shr     $7, %rdx
    xor     %rdx, %rax
    mov     %rax, %rdx
    shl     $17, %rdx
    xor     %rdx, %rax
    dec     %r12
    jnz     3b
4:  movzbl  %al, %edi
    mov     $231, %eax
    syscall
