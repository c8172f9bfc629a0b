/* mallocstress: deterministic heap stress plus direct brk/mmap/mprotect/mremap tests. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, what)                                                  \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("FAIL: %s\n", what);                                    \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static uint64_t rng_state = 0x123456789ABCDEFULL;
static uint32_t rng(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

/* pattern byte for block id / offset */
static inline unsigned char pat(uint32_t id, size_t off)
{
    return (unsigned char)((id * 131u) ^ (uint32_t)(off * 7u) ^ (uint32_t)(off >> 8));
}

static void fill(unsigned char *p, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(id, i);
}

static int verify(const unsigned char *p, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(id, i))
            return 0;
    return 1;
}

/* sparse variants for big blocks: touch every 64th byte and the last byte
 * (keeps the instruction count low for slow emulators, still touches every page) */
#define STRIDE 64
static void fill_sparse(unsigned char *p, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i += STRIDE)
        p[i] = pat(id, i);
    p[n - 1] = pat(id, n - 1);
}

static int verify_sparse(const unsigned char *p, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i += STRIDE)
        if (p[i] != pat(id, i))
            return 0;
    return p[n - 1] == pat(id, n - 1);
}

static uint64_t checksum;
static void sum(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        checksum = (checksum ^ p[i]) * 0x100000001B3ULL; /* FNV-1a */
}

static void sum_sparse(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += STRIDE)
        checksum = (checksum ^ p[i]) * 0x100000001B3ULL;
    checksum = (checksum ^ p[n - 1]) * 0x100000001B3ULL;
}

#define NSMALL 5000
#define NLARGE 6

static unsigned char *small[NSMALL];
static size_t small_sz[NSMALL];

int main(void)
{
    checksum = 0xCBF29CE484222325ULL;

    /* ---- explicit brk via raw syscall ---- */
    long cur = syscall(SYS_brk, 0);
    CHECK(cur > 0, "brk(0)");
    long grown = syscall(SYS_brk, cur + 65536);
    printf("brk grow by 65536: %s\n", grown == cur + 65536 ? "ok" : "failed");
    CHECK(grown == cur + 65536, "brk grow");
    if (grown == cur + 65536) {
        unsigned char *b = (unsigned char *)cur;
        fill(b, 65536, 77);
        int ok = verify(b, 65536, 77);
        printf("brk memory writable and verified: %s\n", ok ? "yes" : "no");
        CHECK(ok, "brk memory verify");
        sum(b, 65536);
    }
    long shrunk = syscall(SYS_brk, cur);
    printf("brk shrink back: %s\n", shrunk == cur ? "ok" : "failed");
    CHECK(shrunk == cur, "brk shrink");
    printf("brk(0) after shrink equals original: %s\n",
           syscall(SYS_brk, 0) == cur ? "yes" : "no");

    /* ---- many small allocations ---- */
    size_t small_total = 0;
    for (int i = 0; i < NSMALL; i++) {
        size_t sz = 1 + rng() % 256;
        small[i] = malloc(sz);
        CHECK(small[i] != NULL, "small malloc");
        small_sz[i] = sz;
        small_total += sz;
        fill(small[i], sz, (uint32_t)i);
    }
    printf("small allocations: %d blocks, %zu bytes\n", NSMALL, small_total);
    /* free every third, reallocate them with different sizes */
    for (int i = 0; i < NSMALL; i += 3) {
        free(small[i]);
        small[i] = NULL;
    }
    for (int i = 0; i < NSMALL; i += 3) {
        size_t sz = 1 + rng() % 512;
        small[i] = malloc(sz);
        CHECK(small[i] != NULL, "small re-malloc");
        small_sz[i] = sz;
        fill(small[i], sz, (uint32_t)i);
    }
    /* realloc some blocks (grow and shrink) */
    for (int i = 1; i < NSMALL; i += 7) {
        size_t nsz = (i & 8) ? small_sz[i] / 2 + 1 : small_sz[i] * 3;
        size_t keep = nsz < small_sz[i] ? nsz : small_sz[i];
        unsigned char *np = realloc(small[i], nsz);
        CHECK(np != NULL, "small realloc");
        if (!verify(np, keep, (uint32_t)i)) {
            printf("FAIL: small realloc lost data (block %d)\n", i);
            failures++;
        }
        small[i] = np;
        small_sz[i] = nsz;
        fill(np, nsz, (uint32_t)i);
    }
    int bad = 0;
    for (int i = 0; i < NSMALL; i++) {
        if (!verify(small[i], small_sz[i], (uint32_t)i))
            bad++;
        sum(small[i], small_sz[i]);
    }
    printf("small blocks verified: %s\n", bad ? "no" : "yes");
    CHECK(!bad, "small verify");

    /* calloc must be zeroed */
    unsigned char *z = calloc(1000, 37);
    int zok = z != NULL;
    for (size_t i = 0; zok && i < 37000; i++)
        if (z[i])
            zok = 0;
    printf("calloc zeroed: %s\n", zok ? "yes" : "no");
    CHECK(zok, "calloc");
    free(z);

    /* ---- large allocations (mmap path) ---- */
    unsigned char *large[NLARGE];
    size_t large_sz[NLARGE];
    for (int i = 0; i < NLARGE; i++) {
        large_sz[i] = (size_t)(1 + i) * 1024 * 1024 + (size_t)i * 4097;
        large[i] = malloc(large_sz[i]);
        CHECK(large[i] != NULL, "large malloc");
        fill_sparse(large[i], large_sz[i], 1000u + (uint32_t)i);
    }
    bad = 0;
    for (int i = 0; i < NLARGE; i++) {
        if (!verify_sparse(large[i], large_sz[i], 1000u + (uint32_t)i))
            bad++;
        sum_sparse(large[i], large_sz[i]);
    }
    printf("large allocations: %d blocks, verified: %s\n", NLARGE, bad ? "no" : "yes");
    CHECK(!bad, "large verify");

    /* realloc growing a large block */
    size_t oldsz = large_sz[1];
    size_t newsz = 8 * 1024 * 1024;
    unsigned char *g = realloc(large[1], newsz);
    CHECK(g != NULL, "large realloc");
    int gok = g && verify_sparse(g, oldsz, 1001u);
    printf("large realloc %zu -> %zu preserved data: %s\n", oldsz, newsz, gok ? "yes" : "no");
    CHECK(gok, "large realloc verify");
    if (g) {
        for (size_t i = oldsz; i < newsz; i += STRIDE)
            g[i] = 0x5A;
        sum_sparse(g, newsz);
    }
    large[1] = g;

    /* free everything */
    for (int i = 0; i < NLARGE; i++)
        free(large[i]);
    for (int i = 0; i < NSMALL; i++)
        free(small[i]);
    printf("freed all\n");

    /* allocate again after freeing */
    unsigned char *again = malloc(3 * 1024 * 1024);
    CHECK(again != NULL, "malloc after free");
    fill_sparse(again, 3 * 1024 * 1024, 4242);
    printf("malloc after free verified: %s\n",
           verify_sparse(again, 3 * 1024 * 1024, 4242) ? "yes" : "no");
    sum_sparse(again, 3 * 1024 * 1024);
    free(again);

    /* ---- direct mmap / mprotect / mremap / munmap ---- */
    size_t psz = 65536;
    unsigned char *m = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap anon 64KiB: %s\n", m != MAP_FAILED ? "ok" : "failed");
    CHECK(m != MAP_FAILED, "mmap");
    if (m != MAP_FAILED) {
        int zero = 1;
        for (size_t i = 0; i < psz; i++)
            if (m[i])
                zero = 0;
        printf("mmap anon zero-filled: %s\n", zero ? "yes" : "no");
        fill(m, psz, 555);
        int r = mprotect(m, psz, PROT_READ);
        printf("mprotect PROT_READ: %d\n", r);
        printf("read-only content verified: %s\n", verify(m, psz, 555) ? "yes" : "no");
        r = mprotect(m, psz, PROT_READ | PROT_WRITE);
        printf("mprotect PROT_READ|PROT_WRITE: %d\n", r);
        m[0] ^= 0xFF;
        m[0] ^= 0xFF;

        size_t nsz = 4 * psz;
        unsigned char *m2 = mremap(m, psz, nsz, MREMAP_MAYMOVE);
        printf("mremap 64KiB -> 256KiB MAYMOVE: %s\n", m2 != MAP_FAILED ? "ok" : "failed");
        CHECK(m2 != MAP_FAILED, "mremap grow");
        if (m2 != MAP_FAILED) {
            printf("mremap preserved content: %s\n", verify(m2, psz, 555) ? "yes" : "no");
            int zero2 = 1;
            for (size_t i = psz; i < nsz; i++)
                if (m2[i])
                    zero2 = 0;
            printf("mremap new part zero-filled: %s\n", zero2 ? "yes" : "no");
            fill(m2, nsz, 556);
            sum(m2, nsz);
            unsigned char *m3 = mremap(m2, nsz, psz, 0);
            printf("mremap shrink to 64KiB in place: %s\n", m3 == m2 ? "ok" : "failed");
            printf("content after shrink: %s\n", verify(m3, psz, 556) ? "yes" : "no");
            r = munmap(m3, psz);
            printf("munmap: %d\n", r);
        }
    }
    /* partial munmap of a 3-page region: unmap middle page */
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char *t = mmap(NULL, (size_t)(3 * pg), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t != MAP_FAILED) {
        memset(t, 1, (size_t)(3 * pg));
        int r1 = munmap(t + pg, (size_t)pg);
        int ok = t[0] == 1 && t[2 * pg] == 1;
        int r2 = munmap(t, (size_t)(3 * pg));
        printf("partial munmap middle page: %d, outer pages intact: %s, full munmap: %d\n",
               r1, ok ? "yes" : "no", r2);
    }

    printf("checksum: %016" PRIx64 "\n", checksum);
    if (failures) {
        printf("FAILED (%d)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
