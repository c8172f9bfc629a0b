/* random_raw [MILLIONS]: random memory access with no libc and no syscalls
 * inside, for measuring the cost of the memory path when nearly every access
 * misses the TLB (benchmarks/memory_heavy.py), as sorting large data does.
 * MILLIONS (first argument, decimal, default 8) million read-modify-writes
 * of 8-byte words at xorshift-random places in a 64 MiB buffer (.bss).
 * Exits with the low byte of a sum (deterministic). */
    .globl _start
    .text
_start:
    mov     $8, %r12
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
2:  imul    $1000000, %r12, %r12
    mov     $0x9E3779B97F4A7C15, %rax
    xor     %rbx, %rbx
    lea     buf(%rip), %rdi
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
    mov     %rax, %rdx
    and     $((64 << 20) - 8), %rdx
    add     (%rdi,%rdx), %rbx
    mov     %rbx, (%rdi,%rdx)
    dec     %r12
    jnz     3b
4:  movzbl  %bl, %edi
    mov     $231, %eax
    syscall
    .bss
    .align  4096
buf:
    .skip   64 << 20
