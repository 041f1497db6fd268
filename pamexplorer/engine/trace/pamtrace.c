/* pamtrace: which module libpam called, with what, what it returned, and what it logged.
 *
 * Loaded with ctypes into a process that already has libpam, pt_install() points libpam's GOT
 * entries for dlsym and the syslog family at the wrappers below (PLT hooking: libpam is
 * BIND_NOW + RELRO, so the entries are rewritten under a temporary mprotect). Nothing is
 * preloaded and libpam still reads the original files; a process that never loads this object
 * pays nothing.
 *
 * - dlsym: a pam_sm_* function libpam looks up gets a trampoline slot; the module's own GOT
 *   entries for the syslog family are patched too (modules that call syslog directly).
 * - a slot records the invocation (flags, argv, times, code) and calls the real function.
 * - the syslog wrappers keep the formatted line (errno kept for %m) for the invocation running,
 *   then forward to the real function exactly as without the shim.
 *
 * Events are JSON arrays, each followed by a comma, in a buffer pt_end() hands out; with a
 * descriptor given to pt_begin(), they are also written to it as they happen (every event but
 * pam_start's lookups at once; those at pt_flush or pt_end): the engine child gives the front
 * end's flight recorder (a memfd), which the front end reads the events of each call from, and
 * those of a call that crashed or hung, with no frame and no Python call per event.
 * Bytes >= 0x80 in strings are written as \u00XX (the reader maps them back through latin-1).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define R_GLOB_DAT R_AARCH64_GLOB_DAT
#elif defined(__i386__)
#define R_JUMP_SLOT R_386_JMP_SLOT
#define R_GLOB_DAT R_386_GLOB_DAT
#else
#error "pamtrace: unsupported architecture"
#endif

#if __ELF_NATIVE_CLASS == 64
#define R_SYM ELF64_R_SYM
#define R_TYPE ELF64_R_TYPE
#else
#define R_SYM ELF32_R_SYM
#define R_TYPE ELF32_R_TYPE
#endif

#define PT_EXPORT __attribute__((visibility("default")))
#define NSLOTS 1024
#define MAX_DEPTH 64

extern void __syslog_chk(int, int, const char *, ...);
extern void __vsyslog_chk(int, int, const char *, va_list);

typedef int (*sm_fn)(void *, int, int, const char **);

struct slot {
    sm_fn real;
    int used;
};

static struct slot slots[NSLOTS];
static int slot_cursor;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* What the flight recorder may hold per process: enough for any real stack, bounded against
 * a module that logs without end (past it, the trace says the recorder is full). */
#define RECORDER_LIMIT (16u << 20)

static volatile int recording;
static int sink_fd = -1;
static size_t recorded; /* bytes written to the flight recorder so far */
static int recorder_full;
static long next_seq;
static __thread long current_stack[MAX_DEPTH];
static __thread int depth;

struct buffer {
    char *data;
    size_t len, cap;
    size_t sent; /* how much of it the flight recorder already has */
};
static struct buffer buffers[2];
static int active; /* the buffer being written; the other one was handed out by pt_end */

/* -- the event buffer (callers hold the lock) ------------------------------------------- */

static int reserve(struct buffer *b, size_t more) {
    if (b->len + more <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
        return 0;
    b->data = grown;
    b->cap = cap;
    return 1;
}

static void put(struct buffer *b, const char *s, size_t n) {
    if (reserve(b, n)) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
}

static void put_str(struct buffer *b, const char *s) { put(b, s, strlen(s)); }

/* An event's numbers and punctuation, in one go (never more than a few dozen bytes). */
__attribute__((format(printf, 2, 3))) static void put_fmt(struct buffer *b, const char *fmt, ...) {
    char tmp[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_json(struct buffer *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!reserve(b, n * 6 + 2))
        return;
    char *out = b->data + b->len;
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            *out++ = '\\';
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
}

static void put_cstr(struct buffer *b, const char *s) {
    if (s)
        put_json(b, s, strlen(s));
    else
        put_str(b, "null");
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Write what the flight recorder does not have yet to it (lock held). Plain write(2): no
 * Python runs inside a module's call, and nothing is lost when the process dies next. */
static void write_recorder(struct buffer *b) {
    const char *from = b->data + b->sent;
    size_t left = b->len - b->sent;
    b->sent = b->len;
    if (recorded + left > RECORDER_LIMIT) {
        static const char full[] = "[\"X\",\"the flight recorder is full\"],";
        (void)!pwrite(sink_fd, full, sizeof full - 1, (off_t)recorded);
        recorder_full = 1;
        return;
    }
    int saved = errno;
    while (left > 0) {
        /* at our own offset: a module moving the descriptor's offset moves nothing here */
        ssize_t n = pwrite(sink_fd, from, left, (off_t)recorded);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            recorder_full = 1; /* gone or failing: not tried again */
            break;
        }
        from += n;
        left -= (size_t)n;
        recorded += (size_t)n;
    }
    errno = saved;
}

/* Set by pt_flush: the caller reads the events from the flight recorder only (no pt_end
 * follows), so nothing is kept here once written there. */
static int recorder_only;

static void flush_locked(void) {
    struct buffer *b = &buffers[active];
    if (sink_fd >= 0 && !recorder_full && b->len > b->sent)
        write_recorder(b);
    if (recorder_only)
        b->len = b->sent = 0;
}

static long current(void) { return depth > 0 ? current_stack[depth - 1] : -1; }

/* -- GOT patching ------------------------------------------------------------------------ */

struct hook {
    const char *name;
    void *wrapper;
};

struct target {
    const char *name; /* match: a substring of the object's path, or NULL for base */
    ElfW(Addr) base;
    const struct hook *hooks;
    int nhooks;
    int patched;
};

static ElfW(Addr) fix(ElfW(Addr) addr, ElfW(Addr) base) { return addr < base ? addr + base : addr; }

static int patch_entry(void **where, void *value, ElfW(Addr) relro_lo, ElfW(Addr) relro_hi) {
    if (*where == value)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    ElfW(Addr) start = (ElfW(Addr))where & ~(ElfW(Addr))(page - 1);
    int in_relro = (ElfW(Addr))where >= relro_lo && (ElfW(Addr))where < relro_hi;
    /* an aligned pointer never straddles two pages: only its own page changes */
    if (mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) != 0)
        return -1;
    *where = value;
    if (in_relro)
        mprotect((void *)start, (size_t)page, PROT_READ);
    /* outside RELRO the page was writable already: it stays so */
    return 1;
}

static int patch_object(struct dl_phdr_info *info, const struct hook *hooks, int nhooks) {
    ElfW(Addr) base = info->dlpi_addr;
    const ElfW(Dyn) *dyn = NULL;
    ElfW(Addr) relro_lo = 0, relro_hi = 0;
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
        else if (ph->p_type == PT_GNU_RELRO) {
            relro_lo = (base + ph->p_vaddr) & ~(ElfW(Addr))(page - 1);
            relro_hi = (base + ph->p_vaddr + ph->p_memsz) & ~(ElfW(Addr))(page - 1);
        }
    }
    if (!dyn)
        return -1;
    ElfW(Addr) jmprel = 0, rela = 0, symtab = 0, strtab = 0;
    size_t pltrelsz = 0, relasz = 0;
    int pltrel_is_rela = 1;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_JMPREL: jmprel = fix(d->d_un.d_ptr, base); break;
        case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
        case DT_PLTREL: pltrel_is_rela = d->d_un.d_val == DT_RELA; break;
        case DT_RELA: rela = fix(d->d_un.d_ptr, base); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        case DT_SYMTAB: symtab = fix(d->d_un.d_ptr, base); break;
        case DT_STRTAB: strtab = fix(d->d_un.d_ptr, base); break;
        }
    }
    if (!symtab || !strtab || !pltrel_is_rela)
        return -1;
    const ElfW(Sym) *syms = (const ElfW(Sym) *)symtab;
    const char *strs = (const char *)strtab;
    int patched = 0;
    struct {
        ElfW(Addr) at;
        size_t size;
    } tables[2] = {{jmprel, pltrelsz}, {rela, relasz}};
    for (int t = 0; t < 2; t++) {
        if (!tables[t].at)
            continue;
        const ElfW(Rela) *r = (const ElfW(Rela) *)tables[t].at;
        size_t n = tables[t].size / sizeof(ElfW(Rela));
        for (size_t i = 0; i < n; i++) {
            unsigned type = (unsigned)R_TYPE(r[i].r_info);
            if (type != R_JUMP_SLOT && type != R_GLOB_DAT)
                continue;
            size_t sym = R_SYM(r[i].r_info);
            if (!sym)
                continue;
            const char *name = strs + syms[sym].st_name;
            for (int h = 0; h < nhooks; h++) {
                if (strcmp(name, hooks[h].name) == 0) {
                    void **where = (void **)(base + r[i].r_offset);
                    if (patch_entry(where, hooks[h].wrapper, relro_lo, relro_hi) >= 0)
                        patched++;
                }
            }
        }
    }
    return patched;
}

/* -- syslog capture ---------------------------------------------------------------------- */

static void capture(int priority, const char *format, va_list ap) {
    if (!recording || !format)
        return;
    int saved = errno;
    char small[1024];
    char *text = small;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof small) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            errno = saved;
            va_copy(copy, ap);
            vsnprintf(big, (size_t)n + 1, format, copy);
            va_end(copy);
            text = big;
        } else {
            n = sizeof small - 1;
        }
    }
    pthread_mutex_lock(&lock);
    struct buffer *b = &buffers[active];
    put_fmt(b, "[\"S\",%ld,%d,", current(), priority);
    put_json(b, text, (size_t)n);
    put_str(b, "],");
    flush_locked();
    pthread_mutex_unlock(&lock);
    if (text != small)
        free(text);
    errno = saved;
}

static void wrap_vsyslog(int priority, const char *format, va_list ap) {
    int saved = errno;
    capture(priority, format, ap);
    errno = saved;
    vsyslog(priority, format, ap);
}

static void wrap_syslog(int priority, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    wrap_vsyslog(priority, format, ap);
    va_end(ap);
}

static void wrap_vsyslog_chk(int priority, int flag, const char *format, va_list ap) {
    int saved = errno;
    capture(priority, format, ap);
    errno = saved;
    __vsyslog_chk(priority, flag, format, ap);
}

static void wrap_syslog_chk(int priority, int flag, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    wrap_vsyslog_chk(priority, flag, format, ap);
    va_end(ap);
}

static const struct hook log_hooks[] = {
    {"syslog", (void *)wrap_syslog},
    {"vsyslog", (void *)wrap_vsyslog},
    {"__syslog_chk", (void *)wrap_syslog_chk},
    {"__vsyslog_chk", (void *)wrap_vsyslog_chk},
};

/* -- the slots --------------------------------------------------------------------------- */

static int slot_call(int n, void *pamh, int flags, int argc, const char **argv) {
    sm_fn real = slots[n].real;
    if (!recording || depth >= MAX_DEPTH)
        return real(pamh, flags, argc, argv);
    pthread_mutex_lock(&lock);
    long seq = next_seq++;
    struct buffer *b = &buffers[active];
    put_fmt(b, "[\"B\",%ld,%ld,%d,%d,[", seq, current(), n, flags);
    for (int i = 0; i < argc && argv; i++) {
        if (i)
            put_str(b, ",");
        put_cstr(b, argv[i]);
    }
    long long began = now_ns();
    put_fmt(b, "],%lld],", began);
    flush_locked();
    pthread_mutex_unlock(&lock);
    current_stack[depth++] = seq;
    int code = real(pamh, flags, argc, argv);
    long long ended = now_ns();
    depth--;
    int saved = errno;
    pthread_mutex_lock(&lock);
    b = &buffers[active];
    put_fmt(b, "[\"E\",%ld,%d,%lld],", seq, code, ended - began);
    flush_locked();
    pthread_mutex_unlock(&lock);
    errno = saved;
    return code;
}

/* Slot names carry their index as base-4 digits after a leading 1 (slot1bdddd): B4 reads the
 * decimal literal those digits make back into the index. */
#define B4(x) \
    ((((x) / 10000) % 10) * 256 + (((x) / 1000) % 10) * 64 + (((x) / 100) % 10) * 16 + \
     (((x) / 10) % 10) * 4 + ((x) % 10))
#define SLOT(n) \
    static int slot##n(void *h, int f, int c, const char **v) { \
        return slot_call(B4(n), h, f, c, v); \
    }
#define SLOT4(n) SLOT(n##0) SLOT(n##1) SLOT(n##2) SLOT(n##3)
#define SLOT16(n) SLOT4(n##0) SLOT4(n##1) SLOT4(n##2) SLOT4(n##3)
#define SLOT64(n) SLOT16(n##0) SLOT16(n##1) SLOT16(n##2) SLOT16(n##3)
#define SLOT256(n) SLOT64(n##0) SLOT64(n##1) SLOT64(n##2) SLOT64(n##3)
SLOT256(10) SLOT256(11) SLOT256(12) SLOT256(13)

#define REF(n) slot##n,
#define REF4(n) REF(n##0) REF(n##1) REF(n##2) REF(n##3)
#define REF16(n) REF4(n##0) REF4(n##1) REF4(n##2) REF4(n##3)
#define REF64(n) REF16(n##0) REF16(n##1) REF16(n##2) REF16(n##3)
#define REF256(n) REF64(n##0) REF64(n##1) REF64(n##2) REF64(n##3)
static sm_fn const trampolines[NSLOTS] = {REF256(10) REF256(11) REF256(12) REF256(13)};

static int alloc_slot(void) {
    for (int i = 0; i < NSLOTS; i++) {
        int s = (slot_cursor + i) % NSLOTS;
        if (!slots[s].used) {
            slots[s].used = 1;
            slot_cursor = (s + 1) % NSLOTS;
            return s;
        }
    }
    return -1;
}

static int patch_module_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    ElfW(Addr) *base = data;
    if (info->dlpi_addr == *base) {
        patch_object(info, log_hooks, (int)(sizeof log_hooks / sizeof log_hooks[0]));
        return 1;
    }
    return 0;
}

static void *wrap_dlsym(void *handle, const char *name) {
    void *fn = dlsym(handle, name);
    if (!recording || !name || strncmp(name, "pam_sm_", 7) != 0)
        return fn;
    const char *path = NULL;
    struct link_map *map = NULL;
    if (fn) {
        Dl_info info;
        if (dladdr1(fn, &info, (void **)&map, RTLD_DL_LINKMAP) && map)
            path = map->l_name;
    } else if (handle && dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map) {
        path = map->l_name;
    }
    pthread_mutex_lock(&lock);
    int slot = fn ? alloc_slot() : -1;
    if (slot >= 0)
        slots[slot].real = (sm_fn)fn;
    struct buffer *b = &buffers[active];
    put_fmt(b, "[\"L\",%d,", slot);
    put_cstr(b, name);
    put_str(b, ",");
    put_cstr(b, path);
    put_fmt(b, ",%d,%ld],", fn ? 1 : 0, current());
    if (fn && slot < 0)
        put_str(b, "[\"X\",\"out of trace slots\"],");
    pthread_mutex_unlock(&lock);
    if (map) {
        ElfW(Addr) base = map->l_addr;
        dl_iterate_phdr(patch_module_cb, &base);
    }
    if (slot < 0)
        return fn;
    return (void *)trampolines[slot];
}

/* -- the C API for ctypes ---------------------------------------------------------------- */

static const struct hook pam_hooks[] = {
    {"dlsym", (void *)wrap_dlsym},
    {"syslog", (void *)wrap_syslog},
    {"vsyslog", (void *)wrap_vsyslog},
    {"__syslog_chk", (void *)wrap_syslog_chk},
    {"__vsyslog_chk", (void *)wrap_vsyslog_chk},
};

static int install_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    int *result = data;
    const char *name = info->dlpi_name;
    const char *slash = name ? strrchr(name, '/') : NULL;
    const char *base = slash ? slash + 1 : name;
    if (base && strncmp(base, "libpam.so", 9) == 0) {
        *result = patch_object(info, pam_hooks, (int)(sizeof pam_hooks / sizeof pam_hooks[0]));
        return 1;
    }
    return 0;
}

/* Patch libpam (loaded already). >0: entries patched; 0: nothing to patch; -1: no libpam,
 * -2: its dynamic section could not be read. Safe to call again. */
PT_EXPORT int pt_install(void) {
    int result = -1;
    if (!dl_iterate_phdr(install_cb, &result))
        return -1;
    return result < 0 ? -2 : result;
}

/* One traced call, in two calls from Python: pt_begin(fd) records (and writes a copy to fd as
 * events happen, or nowhere: -1); pt_end(&len) stops both and hands out every event of the
 * call (a pointer valid until the next pt_end: recording starts over in the other buffer). */
PT_EXPORT void pt_begin(int fd) {
    pthread_mutex_lock(&lock);
    struct buffer *b = &buffers[active];
    b->len = b->sent = 0; /* the call's events, from the start of the buffer */
    sink_fd = fd;
    recorder_only = 0;
    pthread_mutex_unlock(&lock);
    recording = 1;
}

/* Write what the flight recorder does not have yet (pam_start's lookups are not written as
 * they happen: they come in dozens, before any module runs), and from now on keep nothing
 * here: the caller reads every later event from the recorder and never calls pt_end. */
PT_EXPORT void pt_flush(void) {
    pthread_mutex_lock(&lock);
    recorder_only = sink_fd >= 0;
    flush_locked();
    pthread_mutex_unlock(&lock);
}

PT_EXPORT const char *pt_end(size_t *len) {
    recording = 0;
    pthread_mutex_lock(&lock);
    flush_locked();
    sink_fd = -1;
    recorder_only = 0;
    struct buffer *b = &buffers[active];
    const char *data = b->data ? b->data : "";
    *len = b->len;
    active ^= 1; /* the next call records in the other buffer: data stays as handed out */
    pthread_mutex_unlock(&lock);
    return data;
}

/* Note a conversation of n messages (waited ns) for the invocation running. */
PT_EXPORT void pt_conversation(int n, long long waited_ns) {
    if (!recording)
        return;
    pthread_mutex_lock(&lock);
    struct buffer *b = &buffers[active];
    put_fmt(b, "[\"M\",%ld,%d,%lld],", current(), n, waited_ns);
    flush_locked();
    pthread_mutex_unlock(&lock);
}

/* Give slots back once the handle that holds them is gone (pam_end, a failed pam_start). */
PT_EXPORT void pt_release(int slot) {
    if (slot < 0 || slot >= NSLOTS)
        return;
    pthread_mutex_lock(&lock);
    slots[slot].used = 0;
    slots[slot].real = NULL;
    pthread_mutex_unlock(&lock);
}
