"""C sources of test modules for the pam/ tests (compiled with the ``c_module`` fixture)."""

from __future__ import annotations

#: A helper every test module can paste in: one conversation round with ``count`` messages.
CONVERSE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int converse(pam_handle_t *pamh, int count, const struct pam_message **msgs,
                    struct pam_response **out) {
    const struct pam_conv *conv = NULL;
    *out = NULL;
    if (pam_get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || !conv || !conv->conv)
        return 19;
    return conv->conv(count, msgs, out, conv->appdata_ptr);
}
static void drop(struct pam_response *resp, int count) {
    if (!resp) return;
    for (int i = 0; i < count; i++) free(resp[i].resp);
    free(resp);
}
static int say(pam_handle_t *pamh, int style, const char *text) {
    struct pam_message m = { style, text };
    const struct pam_message *mp = &m;
    struct pam_response *resp = NULL;
    int rc = converse(pamh, 1, &mp, &resp);
    drop(resp, 1);
    return rc;
}
"""

#: Reports, through the conversation, the flags each pam_sm_* function received.
FLAG_SPY = (
    CONVERSE
    + r"""
static int spy(pam_handle_t *pamh, const char *fn, int flags) {
    char text[64];
    snprintf(text, sizeof text, "%s flags=0x%x", fn, (unsigned)flags);
    say(pamh, PAM_TEXT_INFO, text);
    return PAM_SUCCESS;
}
#define SPY(name) PAM_EXTERN int pam_sm_##name(pam_handle_t *pamh, int flags, int argc, \
    const char **argv) { (void)argc; (void)argv; return spy(pamh, #name, flags); }
SPY(authenticate) SPY(setcred) SPY(acct_mgmt) SPY(open_session) SPY(close_session)
SPY(chauthtok)
"""
)
