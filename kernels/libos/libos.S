/* azemu libOS — the guest side of a source-compatible unikernel image.
 *
 * `azemu build` links this file into the program (kernels/libos/build.py).
 * In the image, a syscall is a function call into the libOS, never a trap:
 *
 *   - `syscall()` is defined here, so libc's own (which traps) is not linked;
 *   - every libc-internal `mov $NR, %eax; syscall` site is rewritten after
 *     linking into a jump to a per-site trampoline in `azemu_libos_tramp`
 *     (as HermiTux does), which calls `azemu_libos_syscall`;
 *   - `azemu_libos_syscall` answers a few calls whose answer lives in the
 *     libOS's own memory (getpid, gettid, getppid, when the kernel allows it)
 *     without leaving the guest.  For the rest it writes the number and the
 *     six arguments into the calling thread's call block — plain stores:
 *     kernel and application share one address space — and reaches
 *     `azemu_libos_entry`, where the kernel's function hook sits.  The kernel
 *     reads the block straight from memory (no register traffic), serves the
 *     call, writes the result into the block, and the libOS loads it into rax
 *     and returns.
 *
 * Call blocks, one per thread.  Each thread's block is in its TLS
 * (`azemu_libos_thread`, local-exec: at a fixed offset from the thread
 * pointer, which glibc and musl keep at %fs:0).  The kernel knows each
 * thread's thread pointer (it set it: arch_prctl, clone with CLONE_SETTLS), so
 * it finds the same block without reading a register.  Before libc has set
 * up TLS, the first thread uses the static block `azemu_libos_call`; the
 * kernel sets FLAG_TLS when that thread's thread pointer is set.  r11 holds
 * the block's address across the hook (the kernel writes no register there).
 *
 * Register convention of azemu_libos_syscall: the syscall ABI (number in rax,
 * arguments in rdi, rsi, rdx, r10, r8, r9, result in rax); r11 is clobbered
 * and rcx preserved: trampolines then set rcx and r11 as `syscall` leaves them,
 * and for C callers of syscall() both are scratch.  Trampolines step 128 bytes
 * down before calling, so the caller's red zone is never written.
 */
    .section .azemu_libos, "a"
    .balign 8
    /* The header the kernel reads (kernels/unikernel.py); layout is fixed. */
    .globl azemu_libos_header
azemu_libos_header:
    .ascii  "AZLIBOS3"
    .quad   azemu_libos_entry
    .quad   azemu_libos_syscall
    .quad   azemu_libos_pid
    .quad   azemu_libos_flags
    .quad   azemu_libos_in_guest_count
    .quad   azemu_libos_tramp
    .quad   azemu_libos_tramp_end
    .quad   azemu_libos_call
    .quad   azemu_libos_thread@tpoff        /* a thread's block: thread pointer + this */
    .quad   azemu_libos_resume              /* where a thread that blocked in the hook resumes */
    .quad   azemu_libos_ring                /* the in-guest calls, while the kernel traces */

    .data
    .balign 8
    .globl azemu_libos_pid, azemu_libos_tid, azemu_libos_ppid, azemu_libos_flags
azemu_libos_pid:    .quad 0        /* filled by the kernel at boot */
azemu_libos_tid:    .quad 0        /* the first thread's, until TLS is set up */
azemu_libos_ppid:   .quad 0
azemu_libos_flags:  .quad 0        /* bit 0: answer getpid/gettid/getppid in the guest;
                                      bit 1 (FLAG_TLS): threads use their TLS blocks;
                                      bit 2 (FLAG_TRACE): record in-guest answers in the ring */
azemu_libos_in_guest_count: .quad 0
    .globl azemu_libos_call
azemu_libos_call:   .quad 0, 0, 0, 0, 0, 0, 0, 0, 0  /* nr, 6 arguments, result, tid */

    /* The ring of in-guest answers, written only while the kernel traces
     * (FLAG_TRACE): a count of records taken, then RING slots of (sequence,
     * number, result, tid).  A record's slot is claimed with a locked add, its
     * sequence (its number + 1) written last: the kernel, which reads the
     * ring when the guest enters it and at the end, takes a slot only once
     * its sequence is the one it expects. */
    .set    RING, 256
    .balign 8
    .globl azemu_libos_ring
azemu_libos_ring:   .quad 0
    .zero   RING * 32

    /* Each thread's own block: the same layout (the kernel fills in the tid);
     * aligned so that it never straddles a page. */
    .section .tbss, "awT", @nobits
    .balign 128
    .globl azemu_libos_thread
    .type azemu_libos_thread, @object
    .size azemu_libos_thread, 72
azemu_libos_thread: .zero 72

    /* An answer given in the guest (result in rax): counted, and recorded in
     * the ring only while the kernel traces — off, one not-taken branch. */
    .macro ANSWERED nr
    incq    azemu_libos_in_guest_count(%rip)
    testb   $4, azemu_libos_flags(%rip)
    jnz     .Lrecord\nr
    ret
    .endm

    .text
    .globl azemu_libos_syscall, azemu_libos_entry, azemu_libos_resume
    .type azemu_libos_syscall, @function
azemu_libos_syscall:
    mov     azemu_libos_flags(%rip), %r11
    test    $1, %r11b
    jz      1f
    cmp     $39, %eax                       /* getpid */
    je      .Lpid
    cmp     $186, %eax                      /* gettid */
    je      .Ltid
    cmp     $110, %eax                      /* getppid */
    je      .Lppid
1:  test    $2, %r11b                       /* the block: this thread's, or static */
    jz      .Lstatic
    mov     %fs:0, %r11
    lea     azemu_libos_thread@tpoff(%r11), %r11
2:  mov     %rax, (%r11)
    mov     %rdi, 8(%r11)
    mov     %rsi, 16(%r11)
    mov     %rdx, 24(%r11)
    mov     %r10, 32(%r11)
    mov     %r8, 40(%r11)
    mov     %r9, 48(%r11)
azemu_libos_entry:                          /* the kernel's function hook */
    nop
    mov     56(%r11), %rax
azemu_libos_resume:                         /* after blocking, the result is in rax */
    ret
.Lstatic:
    lea     azemu_libos_call(%rip), %r11
    jmp     2b
.Lpid:
    mov     azemu_libos_pid(%rip), %rax
    ANSWERED 39
.Ltid:
    call    .Lthread_tid
    ANSWERED 186
.Lppid:
    mov     azemu_libos_ppid(%rip), %rax
    ANSWERED 110
    .size azemu_libos_syscall, . - azemu_libos_syscall

/* Record an in-guest answer (FLAG_TRACE): r11 holds its number, rax its
 * result.  Every register but r11 is kept (trampolines need rcx). */
.Lrecord39:
    mov     $39, %r11d
    jmp     .Lrecord
.Lrecord186:
    mov     $186, %r11d
    jmp     .Lrecord
.Lrecord110:
    mov     $110, %r11d
.Lrecord:
    push    %rcx
    push    %rdx
    mov     %r11, %rdx                      /* the number */
    mov     $1, %ecx
    lock xadd %rcx, azemu_libos_ring(%rip)  /* rcx: this record's number */
    push    %rcx
    and     $(RING - 1), %ecx
    shl     $5, %rcx
    lea     azemu_libos_ring+8(%rip), %r11
    add     %rcx, %r11
    mov     %rdx, 8(%r11)                   /* the number */
    mov     %rax, 16(%r11)                  /* the result */
    push    %rax
    call    .Lthread_tid
    mov     %rax, 24(%r11)                  /* the thread */
    pop     %rax
    pop     %rcx
    inc     %rcx
    mov     %rcx, (%r11)                    /* its sequence, last */
    pop     %rdx
    pop     %rcx
    ret

/* rax = the calling thread's tid (the kernel wrote it in its block). */
.Lthread_tid:
    mov     azemu_libos_tid(%rip), %rax
    testb   $2, azemu_libos_flags(%rip)
    jz      1f
    mov     %fs:0, %rax
    mov     azemu_libos_thread@tpoff+64(%rax), %rax
1:  ret

/* long syscall(long number, ...): libc's generic wrapper, as a function call.
 * The calls answered in the guest are answered right here, without a second
 * call: every call/ret pair is an indirect branch for the emulator's JIT. */
    .globl syscall
    .type syscall, @function
syscall:
    testb   $1, azemu_libos_flags(%rip)
    jz      2f
    cmp     $39, %edi                       /* getpid */
    je      .Lspid
    cmp     $186, %edi                      /* gettid */
    je      .Lstid
    cmp     $110, %edi                      /* getppid */
    je      .Lsppid
2:  mov     %rdi, %rax
    mov     %rsi, %rdi
    mov     %rdx, %rsi
    mov     %rcx, %rdx
    mov     %r8, %r10
    mov     %r9, %r8
    mov     8(%rsp), %r9
    call    azemu_libos_syscall
    cmp     $-4095, %rax
    jae     1f
    ret
1:  push    %rax                            /* keeps the stack 16-byte aligned */
    call    __errno_location
    pop     %rcx
    neg     %ecx
    mov     %ecx, (%rax)
    mov     $-1, %rax
    ret
.Lspid:
    mov     azemu_libos_pid(%rip), %rax
    ANSWERED 39
.Lstid:
    call    .Lthread_tid
    ANSWERED 186
.Lsppid:
    mov     azemu_libos_ppid(%rip), %rax
    ANSWERED 110
    .size syscall, . - syscall

/* Trampolines: filled in by the rewriter (rewrite.py), one 96-byte slot per
 * rewritten site: the instructions the jump displaced around
 *   lea -128(%rsp),%rsp; pushfq; call azemu_libos_syscall; popfq;
 *   (rcx, r11 as `syscall` leaves them); lea 128(%rsp),%rsp; jmp back */
    .section .text.azemu_tramp, "ax"
    .balign 64
    .globl azemu_libos_tramp, azemu_libos_tramp_end
azemu_libos_tramp:
    .fill   2048 * 96, 1, 0xcc
azemu_libos_tramp_end:

    .section .note.GNU-stack, "", @progbits
