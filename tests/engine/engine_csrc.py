"""C sources of the fault modules for the engine tests (compiled with ``c_module``)."""

from __future__ import annotations

HEADERS = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
"""

#: pam_sm_authenticate does what argv[0] names; every other function succeeds.
FAULTS = (
    HEADERS
    + r"""
extern int pam_set_data(pam_handle_t *, const char *, void *,
                        void (*)(pam_handle_t *, void *, int));
static void write_marker(pam_handle_t *pamh, void *data, int status) {
    (void)pamh;
    FILE *f = fopen((const char *)data, "w");
    if (f) { fprintf(f, "pam_end %d", status); fclose(f); }
    free(data);
}
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    const char *what = argc > 0 ? argv[0] : "ok";
    if (argc > 1) pam_set_data(pamh, "marker", strdup(argv[1]), write_marker);
    if (!strcmp(what, "segv")) { volatile int *p = NULL; *p = 1; }
    if (!strcmp(what, "abort")) abort();
    if (!strcmp(what, "exit3")) exit(3);
    if (!strcmp(what, "hang")) for (;;) sleep(1);
    if (!strcmp(what, "print")) {
        printf("module stdout line\n");
        fprintf(stderr, "module stderr line\n");
        printf("no newline at the end");
        return PAM_SUCCESS;
    }
    if (!strcmp(what, "print-segv")) {
        fprintf(stderr, "last words\n");
        volatile int *p = NULL; *p = 1;
    }
    return PAM_SUCCESS;
}
#define OK(name) PAM_EXTERN int pam_sm_##name(pam_handle_t *pamh, int flags, int argc, \
    const char **argv) { (void)pamh; (void)flags; (void)argc; (void)argv; return PAM_SUCCESS; }
OK(setcred) OK(acct_mgmt) OK(open_session) OK(close_session) OK(chauthtok)
"""
)

#: One echo-off prompt; PAM_SUCCESS only if the answer equals argv[0]. Prints nothing.
PASSWORD = (
    HEADERS
    + r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    const struct pam_conv *conv = NULL;
    if (argc < 1) return 4;
    if (pam_get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || !conv) return 19;
    struct pam_message m[2] = { { PAM_PROMPT_ECHO_OFF, "Password: " },
                                { PAM_TEXT_INFO, "checking" } };
    const struct pam_message *mp[2] = { &m[0], &m[1] };
    struct pam_response *resp = NULL;
    int rc = conv->conv(2, mp, &resp, conv->appdata_ptr);
    if (rc != PAM_SUCCESS) return rc;
    int ok = resp && resp[0].resp && strcmp(resp[0].resp, argv[0]) == 0;
    if (resp) { free(resp[0].resp); free(resp[1].resp); free(resp); }
    if (argc > 1 && !strcmp(argv[1], "wait")) pause();
    return ok ? PAM_SUCCESS : 7;
}
"""
)

#: Modules that attack the engine (issue 9): pam_sm_authenticate does what argv[0] names, with
#: argv[1] a file to write a pid to where the test needs one. PAM_AUTH_ERR (7) unless it dies.
HOSTILE = (
    HEADERS
    + r"""
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

static void write_pid(const char *path, pid_t pid) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) { fprintf(f, "%d", (int)pid); fclose(f); rename(tmp, path); }
}

/* A frame header as the engine writes one: length, sequence number (big-endian), a MAC. */
static void put_header(unsigned int length, unsigned long long seq) {
    unsigned char h[44];
    for (int i = 0; i < 4; i++) h[i] = (unsigned char)(length >> (8 * (3 - i)));
    for (int i = 0; i < 8; i++) h[4 + i] = (unsigned char)(seq >> (8 * (7 - i)));
    memset(h + 12, 0xAB, 32);
    if (write(3, h, sizeof h) < 0) _exit(99);
}

static const char FORGED[] =
    "{\"event\":\"record\",\"record\":{\"function\":\"pam_authenticate\",\"flags\":[],"
    "\"code\":0,\"name\":\"PAM_SUCCESS\",\"text\":\"FORGED\",\"duration_ms\":0,"
    "\"messages\":[],\"items\":{},\"env\":{},\"fail_delay_us\":null,\"output\":[]}}";

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh; (void)flags;
    const char *what = argc > 0 ? argv[0] : "none";
    const char *file = argc > 1 ? argv[1] : NULL;
    if (!strcmp(what, "forge") || !strcmp(what, "forge-hang")) {
        /* Frame 1 is the next one due (frame 0 was pam_start's record). */
        put_header((unsigned int)strlen(FORGED), 1);
        if (write(3, FORGED, strlen(FORGED)) < 0) return 99;
        if (!strcmp(what, "forge-hang")) for (;;) pause();
    } else if (!strcmp(what, "garbage")) {
        if (write(3, "{not json at all\n", 17) < 0) return 99;
    } else if (!strcmp(what, "old-frame")) {
        if (write(3, FORGED, strlen(FORGED)) < 0 || write(3, "\n", 1) < 0) return 99;
    } else if (!strcmp(what, "oversize")) {
        put_header(0xFFFFFFFFu, 1);
    } else if (!strcmp(what, "grandchild-segv")) {
        pid_t pid = fork();
        if (pid == 0) { sleep(60); _exit(0); }  /* holds the channel and the output pipe */
        if (file) write_pid(file, pid);
        volatile int *p = NULL; *p = 1;
    } else if (!strcmp(what, "kill-zero")) {
        kill(0, SIGTERM);
        sleep(5);
    } else if (!strcmp(what, "close-output")) {
        close(1); close(2);
        sleep(2);
        return PAM_SUCCESS;
    } else if (!strcmp(what, "close-all-pause")) {
        if (file) write_pid(file, getpid());
        for (int fd = 0; fd < 1024; fd++) close(fd);
        for (;;) pause();
    } else if (!strcmp(what, "daemon-hang")) {
        pid_t pid = fork();
        if (pid == 0) {  /* the classic daemon: a new session, then the parent leaves */
            setsid();
            if (fork() == 0) { if (file) write_pid(file, getpid()); sleep(60); _exit(0); }
            _exit(0);
        }
        waitpid(pid, NULL, 0);
        for (;;) pause();
    } else if (!strcmp(what, "hang-pid")) {
        if (file) write_pid(file, getpid());
        for (;;) pause();
    } else if (!strcmp(what, "flood")) {
        static char block[65536];
        memset(block, 'x', sizeof block);
        for (int i = 63; i < (int)sizeof block; i += 64) block[i] = '\n';
        long total = (argc > 1 ? atol(argv[1]) : 1) * 1024L * 1024L;
        for (long done = 0; done < total; ) {
            ssize_t n = write(1, block, sizeof block);
            if (n <= 0) return 98;
            done += n;
        }
        return PAM_SUCCESS;
    } else if (!strcmp(what, "dumpable")) {
        struct rlimit core;
        getrlimit(RLIMIT_CORE, &core);
        printf("dumpable=%d core=%lld\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
               (long long)core.rlim_max);
        return PAM_SUCCESS;
    } else if (!strcmp(what, "tty")) {
        int fd = open("/dev/tty", O_WRONLY);
        if (fd < 0) { printf("tty failed: %s\n", strerror(errno)); return PAM_SUCCESS; }
        if (write(fd, "MODULE-WROTE-TO-TTY\r\n", 21) < 0) return 99;
        printf("tty opened\n");
        return PAM_SUCCESS;
    }
    return 7;
}
"""
)
