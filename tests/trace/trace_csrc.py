"""C sources of the trace tests' modules (compiled by ``flagged_module``)."""

from __future__ import annotations

#: What the trace tests' modules need besides ``tests.conftest.PAM_MODULE_PRELUDE`` (which
#: ``flagged_module`` puts in front of them).
PRELUDE = r"""
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
extern void pam_syslog(const pam_handle_t *, int, const char *, ...);
extern void pam_vsyslog(const pam_handle_t *, int, const char *, va_list);
extern int pam_start_confdir(const char *, const char *, const struct pam_conv *, const char *,
                             pam_handle_t **);
extern int pam_authenticate(pam_handle_t *, int);
extern int pam_end(pam_handle_t *, int);
"""

#: pam_sm_authenticate logs through every route, with argv[0] as a marker, then returns
#: atoi(argv[1]); argv[2] "segv" crashes after logging, "hang" never returns.
LOGGER = (
    PRELUDE
    + r"""
static void via_vsyslog(int prio, const char *fmt, ...) {
    va_list ap; va_start(ap, fmt); vsyslog(prio, fmt, ap); va_end(ap);
}
static void via_pam_vsyslog(pam_handle_t *pamh, int prio, const char *fmt, ...) {
    va_list ap; va_start(ap, fmt); pam_vsyslog(pamh, prio, fmt, ap); va_end(ap);
}
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    const char *marker = argc > 0 ? argv[0] : "none";
    syslog(LOG_AUTHPRIV | LOG_NOTICE, "syslog %s %d", marker, 1);
    via_vsyslog(LOG_INFO, "vsyslog %s %d", marker, 2);
    pam_syslog(pamh, LOG_ERR, "pam_syslog %s %d", marker, 3);
    via_pam_vsyslog(pamh, LOG_WARNING, "pam_vsyslog %s %d", marker, 4);
    errno = ENOENT;
    syslog(LOG_DEBUG, "errno %s %m", marker);
    if (argc > 2 && !strcmp(argv[2], "segv")) { volatile int *p = NULL; *p = 1; }
    if (argc > 2 && !strcmp(argv[2], "hang")) for (;;) sleep(1);
    return argc > 1 ? atoi(argv[1]) : PAM_SUCCESS;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_SUCCESS;
}
"""
)

#: Sends argv[0] as an info message, then prompts once (echo off); returns atoi(argv[1]).
TALKER = (
    PRELUDE
    + r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    const struct pam_conv *conv = NULL;
    if (pam_get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || !conv) return 19;
    struct pam_message m[2] = { { PAM_TEXT_INFO, argc > 0 ? argv[0] : "hi" },
                                { PAM_PROMPT_ECHO_OFF, "Secret: " } };
    const struct pam_message *mp[2] = { &m[0], &m[1] };
    struct pam_response *r = NULL;
    int rc = conv->conv(2, mp, &r, conv->appdata_ptr);
    if (r) { free(r[0].resp); free(r[1].resp); free(r); }
    if (rc != PAM_SUCCESS) return rc;
    return argc > 1 ? atoi(argv[1]) : PAM_SUCCESS;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_SUCCESS;
}
"""
)

#: A conversation for a nested transaction that refuses every prompt (PAM_CONV_ERR).
QUIET_CONV = r"""
static int quiet(int n, const struct pam_message **m, struct pam_response **r, void *d) {
    (void)n; (void)m; (void)r; (void)d; return 19;
}
"""

#: Runs a whole nested transaction (service argv[0], confdir argv[1]) inside its own call and
#: returns that transaction's pam_authenticate code.
NESTED = (
    PRELUDE
    + QUIET_CONV
    + r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh; (void)flags;
    if (argc < 2) return 4;
    struct pam_conv conv = { quiet, NULL };
    pam_handle_t *inner = NULL;
    int rc = pam_start_confdir(argv[0], "nested", &conv, argv[1], &inner);
    if (rc != PAM_SUCCESS) return rc;
    rc = pam_authenticate(inner, 0);
    pam_end(inner, rc);
    return rc;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_SUCCESS;
}
"""
)

#: Runs pam_authenticate argv[2] times in a nested transaction (service argv[0], confdir
#: argv[1]) inside its own call, each a module invocation the shim records; prints how much
#: its process's resident memory grew meanwhile, in kB.
REPEATER = (
    PRELUDE
    + QUIET_CONV
    + r"""
static long rss_kb(void) {
    char line[256]; long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int flags, int argc, const char **argv) {
    (void)h; (void)flags;
    if (argc < 3) return 4;
    struct pam_conv conv = { quiet, NULL };
    pam_handle_t *inner = NULL;
    if (pam_start_confdir(argv[0], "nested", &conv, argv[1], &inner) != PAM_SUCCESS) return 4;
    long before = rss_kb();
    for (long i = atol(argv[2]); i > 0; i--) pam_authenticate(inner, 0);
    printf("grew %ld\n", rss_kb() - before);
    pam_end(inner, 0);
    return PAM_SUCCESS;
}
"""
)
