#include <libssh2.h>
/* libssh2's channel helpers are macros; Swift sees these instead. */
static inline LIBSSH2_CHANNEL *cv_ssh2_channel_open_session(LIBSSH2_SESSION *s) {
    return libssh2_channel_open_session(s);
}
static inline int cv_ssh2_channel_exec(LIBSSH2_CHANNEL *c, const char *cmd) {
    return libssh2_channel_exec(c, cmd);
}
static inline ssize_t cv_ssh2_channel_read(LIBSSH2_CHANNEL *c, char *buf, size_t n) {
    return libssh2_channel_read(c, buf, n);
}
static inline ssize_t cv_ssh2_channel_read_stderr(LIBSSH2_CHANNEL *c, char *buf, size_t n) {
    return libssh2_channel_read_stderr(c, buf, n);
}
static inline ssize_t cv_ssh2_channel_write(LIBSSH2_CHANNEL *c, const char *buf, size_t n) {
    return libssh2_channel_write(c, buf, n);
}
static inline int cv_ssh2_channel_send_eof(LIBSSH2_CHANNEL *c) { return libssh2_channel_send_eof(c); }
static inline int cv_ssh2_userauth_publickey_fromfile(LIBSSH2_SESSION *s, const char *user,
                                                      const char *pub, const char *priv, const char *pass) {
    return libssh2_userauth_publickey_fromfile(s, user, pub, priv, pass);
}
static inline LIBSSH2_SESSION *cv_ssh2_session_init(void) { return libssh2_session_init_ex(NULL, NULL, NULL, NULL); }
static inline int cv_ssh2_session_disconnect(LIBSSH2_SESSION *s, const char *why) {
    return libssh2_session_disconnect_ex(s, SSH_DISCONNECT_BY_APPLICATION, why, "");
}
/* Known-hosts type bits for the key type that libssh2_session_hostkey reports (0 when unknown). */
static inline int cv_ssh2_knownhost_keybit(int hostkey_type) {
    switch (hostkey_type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
#ifdef LIBSSH2_KNOWNHOST_KEY_ECDSA_256
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
#endif
#ifdef LIBSSH2_KNOWNHOST_KEY_ED25519
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
#endif
    default: return 0;
    }
}
static inline int cv_ssh2_knownhost_check_flags(int keybit) {
    return LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | keybit;
}
static inline int cv_ssh2_knownhost_readfile(LIBSSH2_KNOWNHOSTS *h, const char *path) {
    return libssh2_knownhost_readfile(h, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
}
