/* Preloaded into the process whose core test_pin_memory.py searches for
 * the PIN. It makes every copy the process ever made stay in memory, and
 * puts what belongs to OpenSSL where the test can tell it apart by address:
 *
 * - the process's malloc (hsmprov's C++ code, p11-kit, the module, libc)
 *   becomes an allocator that never reuses a block, so a copy that was
 *   freed without being wiped stays in the core instead of being
 *   overwritten, or not, by chance;
 * - every allocation made through OpenSSL's allocator (CRYPTO_malloc and
 *   friends: OpenSSL itself, the openssl command, a module's use of
 *   libcrypto) comes from a second such arena, OpenSSL's;
 * - except allocations whose call site (the file name OpenSSL passes with
 *   each one) starts with one of the colon-separated prefixes in
 *   $PIN_MEMORY_OWN_SOURCES, hsmprov's sources ("src/:provider/": hsmprov
 *   is built with -fmacro-prefix-map, Debian's OpenSSL names its own
 *   "../crypto/..."): those go to malloc, and count as hsmprov's;
 * - stdio buffers of files opened with fopen (the config file OpenSSL reads
 *   through a BIO) come from OpenSSL's arena, so the text of the config
 *   OpenSSL read stays apart from hsmprov's own reading of it (open/read).
 *
 * The bounds of the two arenas go to the file $PIN_MEMORY_ARENA: "openssl
 * START END" and "heap START END". Each arena is reserved MADV_DONTDUMP and
 * made dumpable as it fills, so a core holds only the part in use.
 *
 * Built by the test with the system compiler; not part of the provider. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct arena {
  char* base;
  size_t used, dumpable;
  pthread_mutex_t lock;
};

static const size_t kArenaSize = (size_t)1 << 34;
static const size_t kDumpStep = (size_t)1 << 20;
static struct arena openssl_arena = {NULL, 0, 0, PTHREAD_MUTEX_INITIALIZER};
static struct arena heap_arena = {NULL, 0, 0, PTHREAD_MUTEX_INITIALIZER};

struct header {
  size_t size;
  size_t unused; /* keeps blocks 16-byte aligned */
};

/* A block of `size` bytes aligned to `align` (a power of two, 16 or more),
 * with its size just before it; never given out again. */
static void* bump(struct arena* a, size_t size, size_t align) {
  pthread_mutex_lock(&a->lock);
  if (a->base == NULL) {
    void* region = mmap(NULL, kArenaSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) abort();
    madvise(region, kArenaSize, MADV_DONTDUMP);
    a->base = region;
  }
  size_t start = (a->used + sizeof(struct header) + align - 1) & ~(align - 1);
  if (size > kArenaSize || start + size > kArenaSize) {
    pthread_mutex_unlock(&a->lock);
    return NULL;
  }
  a->used = (start + size + 15) & ~(size_t)15;
  if (a->used > a->dumpable) {
    size_t grow = (a->used - a->dumpable + kDumpStep - 1) / kDumpStep * kDumpStep;
    madvise(a->base + a->dumpable, grow, MADV_DODUMP);
    a->dumpable += grow;
  }
  pthread_mutex_unlock(&a->lock);
  struct header* h = (struct header*)(a->base + start) - 1;
  h->size = size;
  return a->base + start;
}

static int in(const struct arena* a, const void* p) {
  return a->base != NULL && (const char*)p >= a->base && (const char*)p < a->base + kArenaSize;
}

static size_t size_of(const void* p) { return ((const struct header*)p - 1)->size; }

static void* moved(struct arena* a, void* p, size_t size) {
  void* to = bump(a, size, 16);
  if (to != NULL && p != NULL) memcpy(to, p, size_of(p) < size ? size_of(p) : size);
  return to;
}

/* The process's malloc. */

void* malloc(size_t size) {
  void* p = bump(&heap_arena, size, 16);
  if (p == NULL) errno = ENOMEM;
  return p;
}

void free(void* p) { (void)p; }

void* calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return malloc(count * size); /* never-used memory of a fresh mapping: zero */
}

void* realloc(void* p, size_t size) { return moved(&heap_arena, p, size); }

void* memalign(size_t align, size_t size) { return bump(&heap_arena, size, align < 16 ? 16 : align); }

void* aligned_alloc(size_t align, size_t size) { return memalign(align, size); }

int posix_memalign(void** out, size_t align, size_t size) {
  void* p = memalign(align, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(size_t size) { return memalign(4096, size); }

void* pvalloc(size_t size) { return memalign(4096, (size + 4095) & ~(size_t)4095); }

size_t malloc_usable_size(void* p) { return p == NULL ? 0 : size_of(p); }

/* OpenSSL's allocator. */

static const char* own_sources;

static int from_own_sources(const char* file) {
  if (own_sources == NULL || file == NULL) return 0;
  for (const char* prefix = own_sources; *prefix != '\0';) {
    size_t length = strcspn(prefix, ":");
    if (length > 0 && strncmp(file, prefix, length) == 0) return 1;
    prefix += length;
    if (*prefix == ':') ++prefix;
  }
  return 0;
}

static void* test_malloc(size_t size, const char* file, int line) {
  (void)line;
  return from_own_sources(file) ? malloc(size) : bump(&openssl_arena, size, 16);
}

static void* test_realloc(void* p, size_t size, const char* file, int line) {
  if (p == NULL) return test_malloc(size, file, line);
  if (size == 0) return NULL; /* CRYPTO_realloc's free */
  return moved(in(&openssl_arena, p) ? &openssl_arena : &heap_arena, p, size);
}

static void test_free(void* p, const char* file, int line) {
  (void)p;
  (void)file;
  (void)line;
}

/* stdio buffers of opened files, from OpenSSL's arena. */

typedef FILE* (*fopen_fn)(const char*, const char*);

static FILE* buffered_from_openssl_arena(FILE* f) {
  if (f != NULL) setvbuf(f, bump(&openssl_arena, BUFSIZ, 16), _IOFBF, BUFSIZ);
  return f;
}

FILE* fopen(const char* path, const char* mode) {
  static fopen_fn real;
  if (real == NULL) real = (fopen_fn)dlsym(RTLD_NEXT, "fopen");
  return buffered_from_openssl_arena(real(path, mode));
}

FILE* fopen64(const char* path, const char* mode) {
  static fopen_fn real;
  if (real == NULL) real = (fopen_fn)dlsym(RTLD_NEXT, "fopen64");
  return buffered_from_openssl_arena(real(path, mode));
}

__attribute__((constructor)) static void setup(void) {
  own_sources = getenv("PIN_MEMORY_OWN_SOURCES");
  if (!CRYPTO_set_mem_functions(test_malloc, test_realloc, test_free)) {
    fputs("pin_memory_preload: OpenSSL allocated before the preload could take its allocator\n", stderr);
    abort();
  }
  free(bump(&openssl_arena, 1, 16)); /* map both arenas now, to report them */
  free(malloc(1));
  const char* out = getenv("PIN_MEMORY_ARENA");
  FILE* f = out ? fopen(out, "w") : NULL;
  if (f == NULL) abort();
  fprintf(f, "openssl %lu %lu\nheap %lu %lu\n", (unsigned long)openssl_arena.base,
          (unsigned long)(openssl_arena.base + kArenaSize), (unsigned long)heap_arena.base,
          (unsigned long)(heap_arena.base + kArenaSize));
  fclose(f);
}
