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
